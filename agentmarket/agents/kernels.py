"""The developers' monthly rules as compiled loops, one pass over the population per stage.

A month of the developers is a few dozen small steps per developer (an option's work share,
value and cost; the best option after noise; the churn and Bass draws). As numpy array
operations each step is a call with a fixed cost of a microsecond or more, which at a few
thousand developers is most of the month. Here each stage is one loop over the developers,
compiled by numba.

The loops do only arithmetic and comparisons, in the same order and on the same float64
values as the array rules they replace (no fused multiply-add: numba contracts nothing unless
told to), so a run gives the same figures to the last bit. Logarithms and exponentials (the
Gumbel noise, the ROI gate) stay in numpy, whose vector routines may differ from the scalar
ones in the last bit. Random draws are made in numpy, by the caller, in a fixed order. A
developer's row, read from a list of rows, is taken as an unsigned integer: numba then checks
no index for being negative (counted from the end), a check that costs more than the arithmetic.

The month's offer reaches the loops as small arrays (see :class:`Terms`): per channel
(row 0 subscription, row 1 API) each option's lab, plan, price (USD/month; inf if
unavailable) and work-share cap; per lab its capability, delivered share and API price of
a whole developer's work; and the rules' scalars.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

COMPILE = {"cache": True, "nogil": True, "error_model": "numpy"}
"""Compiled once per machine and cached beside the module; division by zero gives inf or nan, as in numpy."""

FLOAT_MAX = float(np.finfo(np.float64).max)
"""What ``np.nan_to_num`` puts in place of an infinite value."""

ADOPTER, CHURNED = 1, 2  # DeveloperState values
API = 1  # Channel.API; options of channel c are row c of the option arrays

# Positions in the rules' scalar array (Terms.rules).
API_MULTIPLE, CHURN_ENABLED, CHURN_BASE, CHURN_UNPROFITABLE, CHURN_ROI, REVIEW_RATE = range(6)
NOISE_USD, SWITCHING_USD, INNOVATION, IMITATION, ACC_PER_WORK_SHARE = range(6, 11)
RULES = 11


class Terms(NamedTuple):
    """The month's offer and rules as the loops read them.

    They reach a compiled call as a plain tuple of these fields (``tuple(terms)``), which the
    call types in C where a named tuple costs it some two microseconds; the loops name them
    again with :func:`as_terms`.
    """

    n_options: np.ndarray  # (2,) options per channel
    option_lab: np.ndarray  # (2, K) int64
    option_plan: np.ndarray  # (2, K) int64, -1 for API options
    option_price: np.ndarray  # (2, K) USD/month, inf if unavailable
    option_cap: np.ndarray  # (2, K) most work share the option allows (1 for API options)
    lab_capability: np.ndarray  # (L,) share of work the lab's agent can do, for affinity 1
    lab_delivered: np.ndarray  # (L,) service level times reliability
    lab_api_usd: np.ndarray  # (L,) USD/month of a whole developer's work at the API price, served
    rules: np.ndarray  # (RULES,) the scalars, at the positions above


@njit(inline="always")
def as_terms(fields):
    """The :class:`Terms` of their fields given as a plain tuple, in order."""
    return Terms(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7], fields[8])


@njit(inline="always")
def minimum(a, b):
    """``np.minimum`` of two floats: nan if either is nan."""
    if a != a or b != b:
        return a + b
    return a if a <= b else b


@njit(inline="always")
def ratio(num, den):
    """``num / den``, inf where ``den`` is not positive (a free option always pays)."""
    return num / den if den > 0 else np.inf


@njit(inline="always")
def option_value_cost(affinity, wage_month, c, o, t):
    """Work share, value and cost (USD/month) of option ``o`` of channel ``c`` for one developer.

    Share: the work the agent can do (affinity x capability, at most all of it), times the
    API usage multiple or capped by the plan. Value: the wage of that work, times the share
    the lab delivered. Cost: the plan's price, or the API price of the work plus the option's
    price (0, or inf when the lab is inactive).
    """
    c, o = np.uint64(c), np.uint64(o)  # an option of the channel, never -1 here
    lab = np.uint64(t.option_lab[c, o])
    auto = minimum(1.0, affinity * t.lab_capability[lab])
    if c == API:
        share = minimum(1.0, auto * t.rules[API_MULTIPLE])
        cost = share * t.lab_api_usd[lab] + t.option_price[c, o]
    else:
        share = minimum(auto, t.option_cap[c, o])
        cost = t.option_price[c, o]
    value = share * wage_month * t.lab_delivered[lab]
    return share, value, cost


@njit(inline="always")
def best_option(affinity, wage_month, c, noise, start, t):
    """The option of largest value - cost + noise (the first on ties); its net, value and cost.

    ``noise[start + o]`` is the standard Gumbel draw of option ``o``.
    """
    best, top, best_value, best_cost = 0, 0.0, 0.0, 0.0
    for o in range(t.n_options[c]):
        _, value, cost = option_value_cost(affinity, wage_month, c, o, t)
        net = (value - cost) + t.rules[NOISE_USD] * noise[np.uint64(start + o)]
        if o == 0 or net > top:
            best, top, best_value, best_cost = o, net, value, cost
    return best, top, best_value, best_cost


@njit(**COMPILE)
def split_population(state, channel):
    """Holders and the rest (ascending), adoption as 0/1 per developer, and how many of the rest pay through each channel."""
    n = state.size
    adopted = np.empty(n, dtype=np.int8)
    held = 0
    for i in range(n):
        a = state[i] == ADOPTER
        adopted[i] = a
        held += a
    holders = np.empty(held, dtype=np.int64)
    deciders = np.empty(n - held, dtype=np.int64)
    deciding = np.zeros(2, dtype=np.int64)
    h = d = 0
    for i in range(n):
        if adopted[i]:
            holders[h] = i
            h += 1
        else:
            deciders[d] = i
            d += 1
            deciding[channel[i]] += 1
    return holders, deciders, adopted, deciding


@njit(**COMPILE)
def offer_prices(active, plan_price, capability, half, width, option_price, minus_z):
    """Each option's price and each lab's reliability exponent, from the month's offer (into ``option_price``, ``minus_z``).

    Row 0 of ``option_price`` holds subscription options (lab * P + plan), row 1 API options
    (lab): inf where the lab is inactive or does not sell the plan, an infinite plan price
    as the largest float of its sign, 0 for an active lab's API. ``minus_z`` is minus the
    lab's capability over the logistic's midpoint, in widths, clipped to [-50, 50].
    """
    n_labs, n_plans = plan_price.shape
    option_price[:] = np.inf
    for lab in range(n_labs):
        if active[lab]:
            for plan in range(n_plans):
                v = plan_price[lab, plan]
                if v == v:
                    if v == np.inf:
                        v = FLOAT_MAX
                    elif v == -np.inf:
                        v = -FLOAT_MAX
                    option_price[0, lab * n_plans + plan] = v
            option_price[1, lab] = 0.0
        z = (capability[lab] - half) / width
        if z < -50.0:
            z = -50.0
        if z > 50.0:
            z = 50.0
        minus_z[lab] = -z
    return option_price, minus_z


@njit(**COMPILE)
def holders_in_order(order, values_in_order, state):
    """``values_in_order[k]`` for each ``k`` whose developer ``order[k]`` holds an option, in that order."""
    out = np.empty(order.size, dtype=values_in_order.dtype)
    m = 0
    for k in range(order.size):
        if state[order[k]] == ADOPTER:
            out[m] = values_in_order[k]
            m += 1
    return out[:m].copy()


@njit(**COMPILE)
def assess_holders(holders, channel, option, affinity, wage_month, u_churn, u_review, roi, deciding, fields):
    """Each holder's return at its current option (written to ``roi``): who leaves, who reviews, what is available.

    A holder leaves with the churn probability (higher when the return is below the churn
    threshold) or when its option is gone; reviews its options at the review rate, or when
    its option is gone. Returns ``leave``, ``review`` and ``available`` (bool per holder), and
    where each block of the month's Gumbel noise starts and how many draws there are in all:
    the subscription channel's reviewers and its ``deciding`` non-holders, then the API's,
    a row of options per developer.
    """
    t = as_terms(fields)
    n = holders.size
    leave = np.empty(n, dtype=np.bool_)
    review = np.empty(n, dtype=np.bool_)
    available = np.empty(n, dtype=np.bool_)
    reviewers = np.zeros(2, dtype=np.int64)
    r = t.rules
    for k in range(n):
        i = np.uint64(holders[k])
        c = channel[i]
        _, value, cost = option_value_cost(affinity[i], wage_month[i], c, option[i], t)
        ret = ratio(value, cost)
        roi[i] = ret
        ok = np.isfinite(cost)
        available[k] = ok
        if r[CHURN_ENABLED] != 0.0:
            p = minimum(r[CHURN_BASE] + r[CHURN_UNPROFITABLE] * (1.0 if ret < r[CHURN_ROI] else 0.0), 1.0)
            leave[k] = (u_churn[k] < p) or not ok
        else:
            leave[k] = not ok
        review[k] = (u_review[k] < r[REVIEW_RATE]) or not ok
        if review[k]:
            reviewers[c] += 1
    starts = np.empty(4, dtype=np.int64)
    total = 0
    for c in range(2):
        for block, count in ((2 * c, reviewers[c]), (2 * c + 1, deciding[c])):
            starts[block] = total
            total += count * t.n_options[c]
    return leave, review, available, starts, total


@njit(**COMPILE)
def review_and_consider(
    holders, leave, review, available, deciders, peer, u_adopt, channel, option, state, affinity, wage_month, roi,
    noise, noise_start, fields,
):  # fmt: skip
    """Reviewers switch to a better option or stay; leavers churn; deciders find their best option.

    ``noise`` holds the Gumbel draws in the order they were made: reviewers of the
    subscription channel, its deciders, then the API's reviewers and deciders, each a row
    of options per developer in developer order; ``noise_start`` gives where each of the four
    blocks begins. Holders' ``option`` and ``state`` are updated here. For deciders (``roi``
    written) returns the best option, whether its cost is finite, the Bass hazard
    ``p + q * peer share``, and the positions (among deciders) of those whose adoption draw
    fell below it: only those can adopt.
    """
    t = as_terms(fields)
    r = t.rules
    at = np.empty(4, dtype=np.int64)
    at[:] = noise_start
    for k in range(holders.size):
        i = np.uint64(holders[k])
        c = channel[i]
        go = leave[k]
        if review[k]:
            block = 2 * c
            start = at[block]
            at[block] += t.n_options[c]
            best, top, _, best_cost = best_option(affinity[i], wage_month[i], c, noise, start, t)
            current = -np.inf
            if available[k]:
                o = option[i]
                _, value, cost = option_value_cost(affinity[i], wage_month[i], c, o, t)
                current = (value - cost) + r[NOISE_USD] * noise[start + o]
            if (top - r[SWITCHING_USD] > current) and np.isfinite(best_cost):
                option[i] = best
                go = go and available[k]
        if go:
            state[i] = CHURNED
            option[i] = -1
    n = deciders.size
    best_of = np.empty(n, dtype=np.int64)
    finite = np.empty(n, dtype=np.bool_)
    bass = np.empty(n)
    maybe = np.empty(n, dtype=np.int64)
    n_maybe = 0
    for k in range(n):
        i = np.uint64(deciders[k])
        c = channel[i]
        block = 2 * c + 1
        start = at[block]
        at[block] += t.n_options[c]
        best, _, best_value, best_cost = best_option(affinity[i], wage_month[i], c, noise, start, t)
        roi[i] = ratio(best_value, best_cost)
        best_of[k] = best
        finite[k] = np.isfinite(best_cost)
        bass[k] = r[INNOVATION] + r[IMITATION] * peer[k]
        if u_adopt[k] < bass[k]:
            maybe[n_maybe] = k
            n_maybe += 1
    return best_of, finite, bass, maybe[:n_maybe].copy()


@njit(**COMPILE)
def adopt(deciders, maybe, gate, bass, u_adopt, finite, best_of, state, option):
    """Those of ``maybe`` adopt whose draw falls below the hazard ``gate * bass`` (clipped to [0, 1]) at a finite cost."""
    for m in range(maybe.size):
        k = np.uint64(maybe[m])
        hazard = gate[m] * bass[k]
        if hazard < 0.0:
            hazard = 0.0
        elif hazard > 1.0:
            hazard = 1.0
        if u_adopt[k] < hazard and finite[k]:
            i = np.uint64(deciders[k])
            state[i] = ADOPTER
            option[i] = best_of[k]


@njit(**COMPILE)
def update_usage(state, channel, option, affinity, wage_month, lab_of, plan_of, work_share, compute_acc, fields):
    """Each holder's work share, lab, plan and compute at its option; the rest hold nothing.

    Returns the holders (ascending) of both channels, of the subscription and of the API,
    and the compute demanded of each lab (accelerator-months per month per agent, summed in
    developer order).
    """
    t = as_terms(fields)
    n = state.size
    held = np.empty(n, dtype=np.int64)
    held_channel = np.empty((2, n), dtype=np.int64)
    counts = np.zeros(2, dtype=np.int64)
    demand = np.zeros(t.lab_capability.size)
    per_share = t.rules[ACC_PER_WORK_SHARE]
    n_held = 0
    for i in range(n):
        if state[i] == ADOPTER:
            c = channel[i]
            o = option[i]
            share, _, _ = option_value_cost(affinity[i], wage_month[i], c, o, t)
            lab = t.option_lab[c, o]
            work_share[i] = share
            lab_of[i] = lab
            plan_of[i] = t.option_plan[c, o]
            held[n_held] = i
            n_held += 1
            held_channel[c, counts[c]] = i
            counts[c] += 1
            compute_acc[i] = share * per_share
            demand[lab] += compute_acc[i]
        else:
            work_share[i] = 0.0
            lab_of[i] = -1
            plan_of[i] = -1
            compute_acc[i] = 0.0 * per_share
    return held[:n_held].copy(), held_channel[0, : counts[0]].copy(), held_channel[1, : counts[1]].copy(), demand


@njit(inline="always")
def nan_to_num(x):
    """``np.nan_to_num`` of one float: 0 for nan, the largest finite float for inf."""
    if x != x:
        return 0.0
    if x == np.inf:
        return FLOAT_MAX
    if x == -np.inf:
        return -FLOAT_MAX
    return x


@njit(**COMPILE)
def settle(
    held, channel, lab, plan, client, compute_acc, work_share, wage_month, paid_usd, value_usd, plan_price, api_price,
    service_level, reliability, client_spend, seen, n_clients, weight, over_usd_per_year,
):  # fmt: skip
    """What each holder pays and gets this month (USD/month), and the month's sums per lab (per agent).

    A subscriber pays its plan's price; an API user the compute served at the API price.
    Value is the wage of the work done, times the share delivered (service times
    reliability). Returns, per lab: subscription and API revenue, work done (shares of a
    developer's work, after rationing), holders, and the clients whose annualised API
    spend (weighted) exceeds ``over_usd_per_year``. ``client_spend`` and ``seen`` (one cell
    per lab and client) are scratch space, left as zeros and false.
    """
    n_labs = service_level.size
    paid_usd[:] = 0.0
    value_usd[:] = 0.0
    subscription = np.zeros(n_labs)
    api = np.zeros(n_labs)
    work = np.zeros(n_labs)
    holders = np.zeros(n_labs, dtype=np.int64)
    over = np.zeros(n_labs, dtype=np.int64)
    for k in range(held.size):
        i = np.uint64(held[k])
        j = np.uint64(lab[i])
        if channel[i] == API:
            paid = compute_acc[i] * service_level[j] * api_price[j]
            api[j] += paid
            client_spend[j * n_clients + client[i]] += paid
        else:
            paid = nan_to_num(plan_price[j, plan[i]])
            subscription[j] += paid
        paid_usd[i] = paid
        value_usd[i] = wage_month[i] * work_share[i] * (service_level[j] * reliability[j])
        work[j] += work_share[i] * service_level[j]
        holders[j] += 1
    for k in range(held.size):
        i = held[k]
        if channel[i] == API:
            cell = lab[i] * n_clients + client[i]
            if not seen[cell]:
                seen[cell] = True
                if client_spend[cell] * weight * 12.0 > over_usd_per_year:
                    over[lab[i]] += 1
    for k in range(held.size):
        i = held[k]
        if channel[i] == API:
            cell = lab[i] * n_clients + client[i]
            client_spend[cell] = 0.0
            seen[cell] = False
    return subscription, api, work, holders, over
