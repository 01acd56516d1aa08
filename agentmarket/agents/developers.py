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
from typing import TYPE_CHECKING

import numpy as np

from agentmarket.network import PeerNetwork

if TYPE_CHECKING:
    from agentmarket.model import MarketModel


def nan_to_num(values: np.ndarray) -> np.ndarray:
    """``np.nan_to_num(values)``, without its general machinery when every value is finite (the usual case)."""
    return values if np.isfinite(values).all() else np.nan_to_num(values)


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


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, inf where ``den`` is 0 (a free option always pays)."""
    with np.errstate(over="ignore"):  # a return beyond float range is as good as infinite
        return np.divide(num, den, out=np.full(num.shape, np.inf), where=den > 0)


def draw_gumbel(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Standard Gumbel draws, the same stream as ``rng.gumbel(size=shape)``, with vectorised logs.

    numpy's Gumbel is ``-log(-log(1 - u))`` of the generator's next uniform ``u``, drawn
    with a scalar ``log`` per value; here the same uniforms go through numpy's vector
    ``log``. The two logs may differ in the last bit (about 1 value in 250, at most
    2e-15), so the noise is the same draw to 15 digits. A zero uniform, which numpy rejects
    and draws again (probability 2**-53 per value), sends the whole draw to ``rng.gumbel``.
    """
    state = rng.bit_generator.state
    g = rng.random(shape)
    if g.size and not g.all():
        rng.bit_generator.state = state
        return rng.gumbel(size=shape)
    np.subtract(1.0, g, out=g)
    np.log(g, out=g)
    np.negative(g, out=g)
    np.log(g, out=g)
    np.subtract(0.0, g, out=g)
    return g


def first_argmax(rows: np.ndarray) -> np.ndarray:
    """Index of the largest row in each column of an (options x developers) array, first on ties.

    Same result as ``np.argmax(rows, axis=0)`` for arrays without NaN, in a few passes over
    whole columns instead of a short reduction per developer.
    """
    best = np.zeros(rows.shape[1], dtype=np.int64)
    top = rows[0].copy()
    for j in range(1, rows.shape[0]):
        better = rows[j] > top
        best[better] = j
        np.copyto(top, rows[j], where=better)
    return best


def pick(rows: np.ndarray, best: np.ndarray) -> np.ndarray:
    """``rows[best[i], i]`` for each column ``i`` of an (options x developers) array."""
    return rows[best, np.arange(best.size)]


def gate_roi(roi: np.ndarray, threshold: float, spread: float) -> np.ndarray:
    """Willingness to adopt at a given return: a logistic in log return, 1/2 at ``threshold``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # clipped below
        z = (np.log(np.maximum(roi, 1e-12)) - np.log(threshold)) / spread
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


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
        self._api = self.channel == Channel.API
        self._months_per_day = params.market.workdays_per_month * (1.0 - d.review_overhead)
        self._wage_month = self.wage_usd_per_day * self._months_per_day  # USD/month of a whole month's work
        self._in_channel = {c: self.channel == c for c in Channel}
        self._held_all = np.zeros(0, dtype=np.int64)
        self._held = {c: np.zeros(0, dtype=np.int64) for c in Channel}
        self._option_lab = {
            Channel.API: np.arange(self.n_labs),
            Channel.SUBSCRIPTION: np.repeat(np.arange(self.n_labs), self.n_plans),
        }
        self._option_plan = {
            Channel.API: np.full(self.n_labs, -1),
            Channel.SUBSCRIPTION: np.tile(np.arange(self.n_plans), self.n_labs),
        }
        self._read_offer: Offer | None = None  # the offer the cached options and reliability were derived from
        self._options: dict[Channel, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._reliability = np.ones(self.n_labs)
        self._delivered = np.ones(self.n_labs)  # per lab: service level times reliability (share of work's time saved)
        self._api_usd_per_work_share = np.zeros(self.n_labs)  # per lab: API price of a whole developer's work, served
        self._plan_cap = np.ones(0)  # per subscription option: most work share the plan allows

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

    def adopter_count(self) -> int:
        """Developer agents who hold a coding agent now."""
        return int(np.count_nonzero(self.state == DeveloperState.ADOPTER))

    def payments_usd(self) -> float:
        """USD/month paid by all real developers this month (weighted)."""
        return float(self.paid_usd.sum() * self.weight)

    def options(self, offer: Offer, channel: Channel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each option's lab, plan and price (USD/month; inf if unavailable) for one channel.

        Subscription developers choose among labs x plans (option = lab * P + plan); API
        developers among labs (option = lab; plan -1, priced per use). Derived once per offer.
        """
        self.read_offer(offer)
        return self._options[channel]

    def read_offer(self, offer: Offer) -> None:
        """Derive, once per month's offer, each channel's options and prices and each lab's reliability."""
        if offer is self._read_offer:
            return
        lab, plan = self._option_lab[Channel.API], self._option_plan[Channel.API]
        self._options = {Channel.API: (lab, plan, np.where(offer.active, 0.0, np.inf))}
        lab, plan = self._option_lab[Channel.SUBSCRIPTION], self._option_plan[Channel.SUBSCRIPTION]
        raw = offer.plan_price_usd.reshape(-1)
        listed = raw if not np.isinf(raw).any() else np.nan_to_num(raw)  # NaN (no such plan) is replaced below
        price = np.where(offer.active[lab] & ~np.isnan(raw), listed, np.inf)
        self._options[Channel.SUBSCRIPTION] = (lab, plan, price)
        d = self.params.developers
        with np.errstate(over="ignore"):  # a very narrow width makes a step: clipped below
            z = (offer.capability - d.reliability_half_capability) / d.reliability_width
        self._reliability = 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))
        self._delivered = offer.service_level * self._reliability
        self._api_usd_per_work_share = (
            offer.compute_acc_per_work_share * offer.api_price_usd_per_acc * offer.service_level
        )
        self._plan_cap = offer.plan_cap.reshape(-1)
        self._read_offer = offer

    def evaluate(self, idx: np.ndarray, offer: Offer, channel: Channel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Work share, value (USD/month) and cost (USD/month) of every option for developers ``idx``.

        All of ``idx`` must pay through ``channel``. Value is the wage of the time saved, net
        of review, times the service level the lab delivered; unavailable options cost inf.
        """
        share, value, cost = self.evaluate_options(idx, offer, channel)
        return share.T, value.T, cost.T

    def evaluate_options(
        self, idx: np.ndarray, offer: Offer, channel: Channel
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`evaluate` as (options x developers) arrays: work share, value and cost (USD/month).

        One row per option keeps every operation on long contiguous rows; the number of
        options is small (labs x plans), the number of developers large.
        """
        lab, _plan, _price = self.options(offer, channel)
        return self.evaluate_at(idx[None, :], lab[:, None], np.arange(lab.size)[:, None], offer, channel)

    def evaluate_at(
        self, idx: np.ndarray, lab: np.ndarray, option: np.ndarray, offer: Offer, channel: Channel
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Work share, value and cost (USD/month) of developers ``idx`` at options ``option`` of labs ``lab``.

        The arguments broadcast: one option per developer (all 1-d), or every option for
        every developer (options as a column, developers as a row). Value is the wage of
        the time saved, net of review and of fixing (reliability), times the service level
        the lab delivered.
        """
        _lab, _plan, price = self.options(offer, channel)
        auto = np.minimum(1.0, self.affinity[idx] * offer.capability[lab])
        if channel is Channel.API:
            share = np.minimum(1.0, auto * self.params.developers.api_usage_multiple)
            cost = share * self._api_usd_per_work_share[lab] + price[option]
        else:
            share = np.minimum(auto, self._plan_cap[option])
            cost = np.broadcast_to(price[option], share.shape)
        value = share * self._wage_month[idx] * self._delivered[lab]
        return share, value, cost

    def reliability(self, offer: Offer) -> np.ndarray:
        """Share of delegated work's time really saved, per lab: a logistic in capability.

        Below ``reliability_half_capability`` most delegated work has to be fixed by hand
        (agents "mostly unusable"); above it, most of it stands ("broadly competent").
        """
        self.read_offer(offer)
        return self._reliability

    def decide(self, offer: Offer, rng: np.random.Generator) -> None:
        """One month of churn, switching and adoption (see docs/model.md, Developers)."""
        adopted = self.adopted
        holders = np.flatnonzero(adopted)
        deciders = np.flatnonzero(~adopted)
        peer_share = self.network.peer_share(adopted, deciders)
        u_churn = rng.random(holders.size)
        u_review = rng.random(holders.size)
        u_adopt = rng.random(deciders.size)
        holder_channel = self.channel[holders]
        decider_channel = self.channel[deciders]
        for channel in CHANNELS:
            mine = holder_channel == channel
            self.review_adopters(holders[mine], u_churn[mine], u_review[mine], offer, channel, rng)
            mine = decider_channel == channel
            self.consider_adopting(deciders[mine], u_adopt[mine], peer_share[mine], offer, channel, rng)
        self.update_usage(offer)

    def review_adopters(
        self,
        idx: np.ndarray,
        u_churn: np.ndarray,
        u_review: np.ndarray,
        offer: Offer,
        channel: Channel,
        rng: np.random.Generator,
    ) -> None:
        """Adopters churn when the return falls below its threshold, and switch when a rival beats it."""
        if not idx.size:
            return
        c, d = self.params.churn, self.params.developers
        option_lab, _, _ = self.options(offer, channel)
        cur = self.option[idx].astype(np.int64)
        _, value, cost = self.evaluate_at(idx, option_lab[cur], cur, offer, channel)
        roi = _ratio(value, cost)
        self.roi[idx] = roi
        available = np.isfinite(cost)
        if c.enabled:
            p_churn = np.minimum(c.base_rate_per_month + c.rate_when_unprofitable * (roi < c.roi_threshold), 1.0)
            leave = (u_churn < p_churn) | ~available
        else:
            leave = ~available
        review = (u_review < d.review_rate_per_month) | ~available
        r = np.flatnonzero(review)
        if r.size:
            _, value_r, cost_r = self.evaluate_options(idx[r], offer, channel)
            net = value_r - cost_r + d.choice_noise_usd * draw_gumbel(rng, (r.size, option_lab.size)).T
            best = first_argmax(net)
            current = np.where(available[r], pick(net, cur[r]), -np.inf)
            switch = (pick(net, best) - d.switching_cost_usd > current) & np.isfinite(pick(cost_r, best))
            self.option[idx[r[switch]]] = best[switch]
            leave[r[switch]] &= available[r[switch]]
        gone = idx[leave]
        self.state[gone] = DeveloperState.CHURNED
        self.option[gone] = -1

    def consider_adopting(
        self,
        idx: np.ndarray,
        u_adopt: np.ndarray,
        peer_share: np.ndarray,
        offer: Offer,
        channel: Channel,
        rng: np.random.Generator,
    ) -> None:
        """Non-adopters adopt with hazard gate(ROI) * (p + q * adopting share of peers).

        ``peer_share`` is given for ``idx``. The gate is at most 1, so only developers whose
        draw falls below the Bass hazard ``p + q * share`` can adopt; the gate is computed
        for those alone (the ROI of every decider's best option is still recorded).
        """
        if not idx.size:
            return
        a, d = self.params.adoption, self.params.developers
        _, value, cost = self.evaluate_options(idx, offer, channel)
        net = value - cost + d.choice_noise_usd * draw_gumbel(rng, (idx.size, value.shape[0])).T
        best = first_argmax(net)
        best_cost = pick(cost, best)
        roi = _ratio(pick(value, best), best_cost)
        self.roi[idx] = roi
        bass = a.innovation + a.imitation * peer_share
        maybe = np.flatnonzero(u_adopt < bass)
        gate = gate_roi(roi[maybe], a.roi_threshold, a.roi_spread) if a.roi_gate else 1.0
        hazard = np.clip(gate * bass[maybe], 0.0, 1.0)
        join = maybe[(u_adopt[maybe] < hazard) & np.isfinite(best_cost[maybe])]
        self.state[idx[join]] = DeveloperState.ADOPTER
        self.option[idx[join]] = best[join]

    def update_usage(self, offer: Offer) -> None:
        """Work handed to agents and compute demanded by each developer at their current option.

        Also records who holds an option, per channel (ascending indices), for the month's
        payments and totals.
        """
        self.lab[:] = -1
        self.plan[:] = -1
        self.work_share[:] = 0.0
        adopted = self.adopted
        for channel in CHANNELS:
            idx = np.flatnonzero(adopted & self._in_channel[channel])
            self._held[channel] = idx
            if not idx.size:
                continue
            lab, plan, _ = self.options(offer, channel)
            opt = self.option[idx].astype(np.int64)
            share, _, _ = self.evaluate_at(idx, lab[opt], opt, offer, channel)
            self.work_share[idx] = share
            self.lab[idx] = lab[opt]
            self.plan[idx] = plan[opt]
        self._held_all = np.flatnonzero(self.lab >= 0)
        np.multiply(self.work_share, offer.compute_acc_per_work_share, out=self.compute_acc)

    def demand_by_lab(self) -> np.ndarray:
        """Compute demanded from each lab, in accelerator-months per month (weighted)."""
        held = self._held_all
        return np.bincount(self.lab[held], weights=self.compute_acc[held], minlength=self.n_labs) * self.weight

    def pay(self, offer: Offer, service_level: np.ndarray) -> None:
        """What each developer pays this month (USD/month): the plan, or the API compute served.

        Also the value each gets (USD/month). Only holders are visited; the rest pay 0.
        """
        self.paid_usd[:] = 0.0
        self.value_usd[:] = 0.0
        sub = self._held[Channel.SUBSCRIPTION]
        self.paid_usd[sub] = nan_to_num(offer.plan_price_usd[self.lab[sub], self.plan[sub]])
        api = self._held[Channel.API]
        lab = self.lab[api]
        self.paid_usd[api] = self.compute_acc[api] * service_level[lab] * offer.api_price_usd_per_acc[lab]
        held = self._held_all
        lab = self.lab[held]
        saved = service_level[lab] * self.reliability(offer)[lab]
        self.value_usd[held] = self._wage_month[held] * self.work_share[held] * saved

    def revenue_by_lab(self, channel: Channel) -> np.ndarray:
        """USD/month paid to each lab through one channel (weighted)."""
        held = self._held[channel]
        return np.bincount(self.lab[held], weights=self.paid_usd[held], minlength=self.n_labs) * self.weight

    def work_share_by_lab(self, service_level: np.ndarray) -> np.ndarray:
        """Share of all developers' work done by each lab's agents, after rationing."""
        held = self._held_all
        lab = self.lab[held]
        done = self.work_share[held] * service_level[lab]
        return np.bincount(lab, weights=done, minlength=self.n_labs) / self.n

    def subscribers_by_lab(self) -> np.ndarray:
        """Real developers holding an option of each lab (weighted)."""
        return np.bincount(self.lab[self._held_all], minlength=self.n_labs) * self.weight

    def client_spend_usd_per_year(self, lab: int) -> np.ndarray:
        """Annualised API spend of each client on one lab, in USD/year (weighted)."""
        mask = (self.lab == lab) & self._api
        return np.bincount(self.client[mask], weights=self.paid_usd[mask]) * self.weight * 12.0

    def clients_over_by_lab(self, usd_per_year: float) -> np.ndarray:
        """Clients of each lab whose annualised API spend on it exceeds ``usd_per_year``.

        One pass over the API holders for all labs (the per-lab sums are the same as
        :meth:`client_spend_usd_per_year`, added in the same order); when the holders are
        few, over the (lab, client) pairs that occur rather than every pair.
        """
        api = self._held[Channel.API]
        clients = self.params.developers.client_count
        key = self.lab[api].astype(np.int64) * clients + self.client[api]
        if 32 * key.size < self.n_labs * clients:  # few holders: sum over the (lab, client) pairs that occur
            pairs, inverse = np.unique(key, return_inverse=True)
            spend = np.bincount(inverse, weights=self.paid_usd[api], minlength=pairs.size) * self.weight * 12.0
            return np.bincount(pairs[spend > usd_per_year] // clients, minlength=self.n_labs)
        spend = np.bincount(key, weights=self.paid_usd[api], minlength=self.n_labs * clients)
        spend = spend.reshape(self.n_labs, clients) * self.weight * 12.0
        return (spend > usd_per_year).sum(axis=1)


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
