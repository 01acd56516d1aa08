"""Developers: who adopts a coding agent, which lab and plan they pick, how much compute they use.

The whole population is one agent set, :class:`DeveloperPopulation`, with its own ``step``:
its state lives in numpy arrays (one row per developer) so that a month's decisions for a
million developers are a few array operations. Any single developer can still be picked and
inspected: :class:`Developer` is a light view of one row (wage, peers, lab, plan), made on
demand by ``population.agent(i)`` or by iterating the population, so no million objects are
built or registered with the model.

Money is in USD per month per real developer; compute in accelerator-months per month
(accelerators in service for the month, H100-class) per real developer. One agent stands
for ``weight`` real developers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from agentmarket.agents import kernels
from agentmarket.network import PeerNetwork

if TYPE_CHECKING:
    from agentmarket.model import MarketModel


class DeveloperState(IntEnum):
    """Where a developer stands with coding agents."""

    NON_ADOPTER = 0
    ADOPTER = 1
    CHURNED = 2


class Channel(IntEnum):
    """How a developer pays: a subscription plan, or metered use through a lab's API."""

    SUBSCRIPTION = 0
    API = 1


CHANNELS = tuple(Channel)
"""The channels in order, iterated a few times a month (iterating the enum itself costs more)."""


@dataclass(frozen=True, eq=False)
class Offer:
    """What the labs offer this month, as arrays over labs ``L`` and plans ``P``.

    Built once a month and only read after that: the population derives each channel's
    options and each lab's reliability from it once (keyed by the offer itself).
    """

    capability: np.ndarray  # (L,) share of work the lab's agent can do, for affinity 1
    service_level: np.ndarray  # (L,) share of demanded compute served last month
    active: np.ndarray  # (L,) bool
    plan_price_usd: np.ndarray  # (L, P) USD/month; nan where a lab has no such plan
    plan_cap: np.ndarray  # (L, P) most work share the plan allows
    api_price_usd_per_acc: np.ndarray  # (L,) USD per accelerator-month of work
    compute_acc_per_work_share: float  # accelerator-months per month for a whole developer's work


def draw_gumbel(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` standard Gumbel draws, ``-log(-log(1 - u))`` of the generator's next uniforms, with vectorised logs.

    The draws of ``rng.gumbel(size=size)``, whose scalar ``log`` may differ from numpy's
    vector ``log`` in the last bit (about 1 value in 250, at most 2e-15). numpy's Gumbel
    rejects a zero uniform (probability 2**-53 per value) and draws again in its place;
    here such a uniform is replaced by a fresh draw after the others, which changes only
    which later uniform takes its place.
    """
    g = rng.random(size)
    while np.count_nonzero(g) < size:
        zeros = np.flatnonzero(g == 0.0)
        g[zeros] = rng.random(zeros.size)
    np.subtract(1.0, g, out=g)
    np.log(g, out=g)
    np.negative(g, out=g)
    np.log(g, out=g)
    np.subtract(0.0, g, out=g)
    return g


def gate_roi(roi: np.ndarray, threshold: float, spread: float) -> np.ndarray:
    """Willingness to adopt at a given return: a logistic in log return, 1/2 at ``threshold``.

    With a positive threshold and a spread of at least 1e-300 no step can divide by zero or
    overflow (a log return is within about +-1,500), so numpy's error state is left alone;
    otherwise its warnings are silenced, as the result is clipped.
    """
    if threshold > 0 and spread >= 1e-300:
        z = (np.log(np.maximum(roi, 1e-12)) - np.log(threshold)) / spread
    else:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = (np.log(np.maximum(roi, 1e-12)) - np.log(threshold)) / spread
    return 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(z, -50.0), 50.0)))


class DeveloperPopulation:
    """Every developer of a model as one agent set: array state, monthly rules and its own ``step``.

    Not a Mesa ``AgentSet`` (which holds one Python object per agent): like a mesa-frames
    agent set, it keeps the population in arrays and acts on all rows at once. The model
    creates one and calls :meth:`step` in its developer phase. Its randomness is the model's
    ``rng``.

    Args:
        model: the model the developers belong to; its parameters and ``rng`` are read here.
        lab_names: the labs, in the order of the offer's arrays.
        plan_names: the subscription plans, in the order of the offer's plan columns.
    """

    def __init__(self, model: MarketModel, lab_names: Sequence[str], plan_names: Sequence[str]) -> None:
        params = model.params
        rng = model.rng
        d = params.developers
        n = params.simulation.developer_agents
        self.model = model
        self.rng = rng
        self.params = params
        self.lab_names = list(lab_names)
        self.plan_names = list(plan_names)
        self.n = n
        self.n_labs = len(self.lab_names)
        self.n_plans = len(self.plan_names)
        self.weight = params.developer_weight
        self.wage_usd_per_day = np.exp(np.log(d.wage_median_usd_per_day) + d.wage_sigma * rng.standard_normal(n))
        self.affinity = rng.gamma(d.affinity_shape, 1.0 / d.affinity_shape, size=n)
        self.channel = np.where(rng.random(n) < d.api_channel_share, Channel.API, Channel.SUBSCRIPTION).astype(np.int8)
        ranks = np.arange(1, d.client_count + 1, dtype=np.float64)
        client_p = ranks ** (-d.client_zipf_exponent)
        self.client = rng.choice(d.client_count, size=n, p=client_p / client_p.sum()).astype(np.int32)
        self.network = PeerNetwork(n, params.network.kind, params.network.mean_degree, params.network.rewire_prob, rng)
        self.state = np.zeros(n, dtype=np.int8)
        self.option = np.full(n, -1, dtype=np.int16)
        self.lab = np.full(n, -1, dtype=np.int16)
        self.plan = np.full(n, -1, dtype=np.int16)
        self.work_share = np.zeros(n)
        self.compute_acc = np.zeros(n)
        self.paid_usd = np.zeros(n)
        self.value_usd = np.zeros(n)
        self.roi = np.zeros(n)
        self._months_per_day = params.market.workdays_per_month * (1.0 - d.review_overhead)
        self._wage_month = self.wage_usd_per_day * self._months_per_day  # USD/month of a whole month's work
        self.sort_wages()
        self._held_all = np.zeros(0, dtype=np.int64)
        self._held = {c: np.zeros(0, dtype=np.int64) for c in Channel}
        sub_lab = np.repeat(np.arange(self.n_labs, dtype=np.int64), self.n_plans)
        sub_plan = np.tile(np.arange(self.n_plans, dtype=np.int64), self.n_labs)
        self._n_options = np.array([sub_lab.size, self.n_labs], dtype=np.int64)
        width = max(sub_lab.size, self.n_labs)
        self._option_lab_rows = np.zeros((len(CHANNELS), width), dtype=np.int64)  # per channel, each option's lab
        self._option_lab_rows[Channel.SUBSCRIPTION, : sub_lab.size] = sub_lab
        self._option_lab_rows[Channel.API, : self.n_labs] = np.arange(self.n_labs)
        self._option_plan_rows = np.full((len(CHANNELS), width), -1, dtype=np.int64)  # each option's plan, -1 for API
        self._option_plan_rows[Channel.SUBSCRIPTION, : sub_plan.size] = sub_plan
        self._option_price = np.full((len(CHANNELS), width), np.inf)  # USD/month, inf if unavailable
        self._option_cap = np.ones((len(CHANNELS), width))  # most work share each option allows
        self._cap_source: np.ndarray | None = None  # the offer's plan caps the option caps were read from
        self._rules = self.rules()
        self._read_offer: Offer | None = None  # the offer the cached options and reliability were derived from
        self._reliability = np.ones(self.n_labs)
        self._delivered = np.ones(self.n_labs)  # per lab: service level times reliability (share of work's time saved)
        self._api_usd_per_work_share = np.zeros(self.n_labs)  # per lab: API price of a whole developer's work, served
        self._client_spend = np.zeros(self.n_labs * d.client_count)  # scratch: API spend per (lab, client)
        self._client_seen = np.zeros(self.n_labs * d.client_count, dtype=np.bool_)
        self._terms: tuple | None = None  # the offer and rules as the compiled loops read them (Terms' fields)
        self._demand_acc = np.zeros(self.n_labs)  # per lab: accelerator-months per month, per agent

    def step(self, offer: Offer) -> np.ndarray:
        """One month of the developers: churn, switching and adoption against ``offer``, then usage.

        Returns the compute demanded from each lab, in accelerator-months per month (weighted).
        """
        self.decide(offer, self.rng)
        return self.demand_by_lab()

    def agent(self, index: int) -> Developer:
        """A view of developer ``index`` (0 <= index < n)."""
        if not 0 <= index < self.n:
            raise IndexError(f"developer {index} does not exist; there are {self.n}")
        return Developer(self, index)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Developer]:
        return (Developer(self, i) for i in range(self.n))

    @property
    def adopted(self) -> np.ndarray:
        """Which developers hold a coding agent now (bool per row)."""
        return self.state == DeveloperState.ADOPTER

    def holders(self, channel: Channel) -> np.ndarray:
        """Indices (ascending) of the developers holding an option of ``channel`` this month."""
        return self._held[channel]

    def holder_count(self) -> int:
        """Developer agents who held an option at this month's usage (:meth:`update_usage`): the month's adopters."""
        return int(self._held_all.size)

    def sort_wages(self) -> None:
        """Keep the wage order (stable, ties in index order) for :meth:`adopter_wages_sorted`; call after wages change."""
        self._wage_order = np.argsort(self.wage_usd_per_day, kind="stable")
        self._wages_sorted = self.wage_usd_per_day[self._wage_order]

    def adopter_wages_sorted(self) -> np.ndarray:
        """Daily wages (USD/day) of the developers holding a coding agent now, in ascending order.

        Wages are drawn once, so they are kept sorted and masked by who adopts: a month's
        adopters come out in order without a sort.
        """
        return kernels.holders_in_order(self._wage_order, self._wages_sorted, self.state)

    def payments_usd(self) -> float:
        """USD/month paid by all real developers this month (weighted)."""
        return float(self.paid_usd.sum() * self.weight)

    def read_offer(self, offer: Offer) -> None:
        """Derive, once per month's offer, each option's price, each lab's reliability and terms, for the loops.

        Subscription developers choose among labs x plans (option = lab * P + plan); API
        developers among labs (option = lab; plan -1, priced per use). An option of an
        inactive lab, or a plan a lab does not sell, costs inf. The prices and the reliability
        exponents are read in one compiled pass (:func:`~agentmarket.agents.kernels.offer_prices`);
        the exponential stays numpy's, whose ``exp`` may differ from ``math``'s.
        """
        if offer is self._read_offer:
            return
        d = self.params.developers
        capability = np.asarray(offer.capability, dtype=np.float64)
        # a very narrow width makes a step (the exponent overflows to inf): clipped
        self._option_price, minus_z = kernels.offer_prices(
            np.asarray(offer.active, dtype=np.bool_), np.asarray(offer.plan_price_usd, dtype=np.float64), capability,
            float(d.reliability_half_capability), float(d.reliability_width),
            np.empty(self._option_price.shape), np.empty(capability.size),
        )  # fmt: skip
        self._reliability = 1.0 / (1.0 + np.exp(minus_z))
        self._delivered = offer.service_level * self._reliability
        self._api_usd_per_work_share = (
            offer.compute_acc_per_work_share * offer.api_price_usd_per_acc * offer.service_level
        )
        if offer.plan_cap is not self._cap_source:
            self._option_cap = np.ones_like(self._option_price)
            self._option_cap[Channel.SUBSCRIPTION] = offer.plan_cap.reshape(-1)
            self._cap_source = offer.plan_cap
        rules = self._rules.copy()
        rules[kernels.ACC_PER_WORK_SHARE] = offer.compute_acc_per_work_share
        self._terms = tuple(kernels.Terms(
            self._n_options, self._option_lab_rows, self._option_plan_rows, self._option_price, self._option_cap,
            capability, self._delivered, self._api_usd_per_work_share, rules,
        ))  # fmt: skip
        self._read_offer = offer

    def rules(self) -> np.ndarray:
        """The developers' rules as the loops read them (:data:`~agentmarket.agents.kernels.RULES` scalars)."""
        a, churn, d = self.params.adoption, self.params.churn, self.params.developers
        rules = np.zeros(kernels.RULES)
        rules[kernels.API_MULTIPLE] = d.api_usage_multiple
        rules[kernels.CHURN_ENABLED] = float(churn.enabled)
        rules[kernels.CHURN_BASE] = churn.base_rate_per_month
        rules[kernels.CHURN_UNPROFITABLE] = churn.rate_when_unprofitable
        rules[kernels.CHURN_ROI] = churn.roi_threshold
        rules[kernels.REVIEW_RATE] = d.review_rate_per_month
        rules[kernels.NOISE_USD] = d.choice_noise_usd
        rules[kernels.SWITCHING_USD] = d.switching_cost_usd
        rules[kernels.INNOVATION] = a.innovation
        rules[kernels.IMITATION] = a.imitation
        return rules

    def reliability(self, offer: Offer) -> np.ndarray:
        """Share of delegated work's time really saved, per lab: a logistic in capability.

        Below ``reliability_half_capability`` most delegated work has to be fixed by hand
        (agents "mostly unusable"); above it, most of it stands ("broadly competent").
        """
        self.read_offer(offer)
        return self._reliability

    def decide(self, offer: Offer, rng: np.random.Generator) -> None:
        """One month of churn, switching and adoption (see docs/model.md, Developers), then usage.

        Draws, in order: a churn and a review uniform per holder, an adoption uniform per
        non-holder, then per channel (subscription, API) Gumbel noise over the options for
        the holders who review and for the non-holders. Adopters churn when the return falls
        below its threshold and switch when a rival beats their option by the switching cost;
        non-adopters adopt with hazard gate(ROI) * (p + q * adopting share of peers).
        """
        self.read_offer(offer)
        t, a = self._terms, self.params.adoption
        holders, deciders, adopted, deciding = kernels.split_population(self.state, self.channel)
        peer_share = self.network.peer_share(adopted, deciders)
        u = rng.random(2 * holders.size + deciders.size)
        u_churn, u_review, u_adopt = u[: holders.size], u[holders.size : 2 * holders.size], u[2 * holders.size :]
        leave, review, available, starts, total = kernels.assess_holders(
            holders,
            self.channel,
            self.option,
            self.affinity,
            self._wage_month,
            u_churn,
            u_review,
            self.roi,
            deciding,
            t,
        )
        noise = draw_gumbel(rng, total)
        best, finite, bass, maybe = kernels.review_and_consider(
            holders, leave, review, available, deciders, peer_share, u_adopt, self.channel, self.option, self.state,
            self.affinity, self._wage_month, self.roi, noise, starts, t,
        )  # fmt: skip
        if maybe.size:
            if a.roi_gate:
                gate = gate_roi(self.roi[deciders[maybe]], a.roi_threshold, a.roi_spread)
            else:
                gate = np.ones(maybe.size)
            kernels.adopt(deciders, maybe, gate, bass, u_adopt, finite, best, self.state, self.option)
        self.update_usage(offer)

    def update_usage(self, offer: Offer) -> None:
        """Work handed to agents and compute demanded by each developer at their current option.

        Also records who holds an option, per channel (ascending indices), for the month's
        payments and totals, and the compute demanded of each lab.
        """
        self.read_offer(offer)
        self._held_all, sub, api, self._demand_acc = kernels.update_usage(
            self.state, self.channel, self.option, self.affinity, self._wage_month, self.lab, self.plan,
            self.work_share, self.compute_acc, self._terms,
        )  # fmt: skip
        self._held = {Channel.SUBSCRIPTION: sub, Channel.API: api}

    def demand_by_lab(self) -> np.ndarray:
        """Compute demanded from each lab, in accelerator-months per month (weighted)."""
        return self._demand_acc * self.weight

    def settle(self, offer: Offer, service_level: np.ndarray, over_usd_per_year: float) -> Settlement:
        """What each developer pays and gets this month (USD/month), and the month's sums per lab (weighted).

        A subscriber pays its plan's price, an API user the compute served (``service_level``
        of what it asked) at the API price; the value each gets is the wage of the work done,
        times the share delivered. Only holders are visited; the rest pay and get 0.
        ``over_usd_per_year`` (at least 0) sets which clients count as large.
        """
        self.read_offer(offer)
        service = np.asarray(service_level, dtype=np.float64)
        subscription, api, work, holders, over = kernels.settle(
            self._held_all, self.channel, self.lab, self.plan, self.client, self.compute_acc, self.work_share,
            self._wage_month, self.paid_usd, self.value_usd, offer.plan_price_usd, offer.api_price_usd_per_acc,
            service, self._reliability, self._client_spend, self._client_seen, self.params.developers.client_count,
            self.weight, over_usd_per_year,
        )  # fmt: skip
        return Settlement(
            subscription_usd=subscription * self.weight,
            api_usd=api * self.weight,
            work_share=work / self.n,
            subscribers=holders * self.weight,
            clients_over=over,
        )


class Settlement(NamedTuple):
    """The developers' month per lab (arrays over labs): what they paid, the work done, who holds, large clients."""

    subscription_usd: np.ndarray  # USD/month paid for plans (weighted)
    api_usd: np.ndarray  # USD/month paid through the API (weighted)
    work_share: np.ndarray  # share of all developers' work done by the lab's agents, after rationing
    subscribers: np.ndarray  # real developers holding an option of the lab (weighted)
    clients_over: np.ndarray  # clients whose annualised API spend on the lab exceeds the threshold


class Developer:
    """One developer: a view of row ``index`` of the population's arrays.

    Views are made on demand (``population.agent(i)``, iterating the population, a view's
    ``peers``) and hold no state of their own, so two views of one row are equal.

    Args:
        population: the developers' agent set.
        index: the developer's row, 0 <= index < len(population).
    """

    __slots__ = ("index", "population")

    def __init__(self, population: DeveloperPopulation, index: int) -> None:
        self.population = population
        self.index = int(index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Developer) and other.population is self.population and other.index == self.index

    def __hash__(self) -> int:
        return hash((id(self.population), self.index))

    @property
    def _pop(self) -> DeveloperPopulation:
        return self.population

    @property
    def wage_usd_per_day(self) -> float:
        """This developer's daily wage, USD/day."""
        return float(self._pop.wage_usd_per_day[self.index])

    @property
    def affinity(self) -> float:
        """How much of this developer's work suits agents, relative to the average (1)."""
        return float(self._pop.affinity[self.index])

    @property
    def channel(self) -> Channel:
        """How this developer pays: a subscription plan or the API."""
        return Channel(int(self._pop.channel[self.index]))

    @property
    def state(self) -> DeveloperState:
        """Where this developer stands with coding agents."""
        return DeveloperState(int(self._pop.state[self.index]))

    @property
    def lab(self) -> str | None:
        """Name of the lab whose agent this developer uses, or None."""
        lab = int(self._pop.lab[self.index])
        return self._pop.lab_names[lab] if lab >= 0 else None

    @property
    def plan(self) -> str | None:
        """Name of the subscription plan held, or None (API users and non-adopters)."""
        plan = int(self._pop.plan[self.index])
        return self._pop.plan_names[plan] if plan >= 0 else None

    @property
    def work_share(self) -> float:
        """Share of this developer's work handed to an agent this month."""
        return float(self._pop.work_share[self.index])

    @property
    def compute_acc(self) -> float:
        """Compute this developer's agent demands, in accelerator-months per month."""
        return float(self._pop.compute_acc[self.index])

    @property
    def paid_usd(self) -> float:
        """What this developer paid this month, USD/month (per real developer)."""
        return float(self._pop.paid_usd[self.index])

    @property
    def roi(self) -> float:
        """Return on investment of the best or current option: value of time saved over price."""
        return float(self._pop.roi[self.index])

    @property
    def weight(self) -> float:
        """Real developers this agent stands for."""
        return self._pop.weight

    @property
    def peers(self) -> list[Developer]:
        """The developers this one is linked to in the social network."""
        return [Developer(self._pop, j) for j in self._pop.network.neighbours(self.index)]

    def __repr__(self) -> str:
        return f"Developer({self.index}, {self.state.name}, lab={self.lab}, plan={self.plan})"
