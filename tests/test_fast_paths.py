"""Shortcuts taken for speed give exactly what the general routines they replace give."""

from __future__ import annotations

import dataclasses
import math

import mesa
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pinned import run_pinned

from agentmarket.agents import kernels
from agentmarket.agents.clouds import CloudAgent
from agentmarket.agents.contracts import Contract, ContractBook
from agentmarket.agents.developers import DeveloperState
from agentmarket.agents.labs import LabAgent
from agentmarket.market import (
    MarketConditions,
    clamp,
    column_sums,
    ordered_dot,
    ordered_mean,
    ordered_sum,
    ordered_weighted_mean,
    settle_compute,
)
from agentmarket.model import MarketDataCollector, MarketModel, linear_quantiles
from agentmarket.network import PeerNetwork
from agentmarket.params import NetworkKind
from agentmarket.scenarios import load_scenario


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1e9, allow_nan=False), min_size=1, max_size=80),
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=5),
)
def test_linear_quantiles_are_numpys_percentiles_to_the_last_bit(values, fractions):
    values = np.array(values)
    expected = np.percentile(values, [100 * q for q in fractions])
    assert np.array_equal(linear_quantiles(values, tuple(fractions)), expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=400), st.integers(min_value=0, max_value=2**32 - 1), st.floats(0.0, 1.0))
def test_adopters_wages_kept_sorted_are_the_sorted_wages_of_who_adopts(n, seed, share):
    model = MarketModel(load_scenario("baseline", {"simulation.developer_agents": n}), rng=seed)
    dev = model.developers
    dev.wage_usd_per_day[: n // 3] = dev.wage_usd_per_day[n // 3 : 2 * (n // 3)]  # ties, kept in order too
    dev.sort_wages()
    rng = np.random.default_rng(seed)
    others = (1.0 - share) / 2
    dev.state[:] = rng.choice(list(DeveloperState), size=n, p=[others, share, others])
    expected = np.sort(dev.wage_usd_per_day[dev.adopted])
    assert np.array_equal(dev.adopter_wages_sorted(), expected)
    if expected.size:
        quantiles = linear_quantiles(dev.adopter_wages_sorted(), (0.25, 0.5, 0.75), presorted=True)
        assert np.array_equal(quantiles, np.percentile(dev.wage_usd_per_day[dev.adopted], [25, 50, 75]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1e12, allow_nan=False), max_size=20))
def test_ordered_sum_is_numpys_sum_to_the_last_bit(values):
    assert ordered_sum(values) == float(np.sum(np.array(values, dtype=np.float64)))


def pair_lists(min_size: int, max_size: int) -> st.SearchStrategy[tuple[list[float], list[float]]]:
    """Weights (at least 0) and values of the same length, within ``min_size`` and ``max_size``."""
    return st.integers(min_value=min_size, max_value=max_size).flatmap(
        lambda n: st.tuples(
            st.lists(st.floats(min_value=0.0, max_value=1e9, allow_nan=False), min_size=n, max_size=n),
            st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=n, max_size=n),
        )
    )


PINNED_DOTS = (
    "import json, sys, numpy as np; print(json.dumps([float(np.dot(np.array(a, dtype=np.float64),"
    " np.array(b, dtype=np.float64))) for a, b in json.load(sys.stdin)]))"
)


def pinned_dots(cases: list[tuple[list[float], list[float]]]) -> list[float]:
    """``float(np.dot(a, b))`` of each case, taken in a child interpreter on OpenBLAS's Haswell kernels (:mod:`pinned`)."""
    return run_pinned(PINNED_DOTS, stdin=cases)


@settings(max_examples=25, deadline=None)
@given(st.lists(pair_lists(0, 7), min_size=1, max_size=40))
def test_ordered_dot_of_a_few_pairs_is_numpys_dot_on_its_avx2_kernels_to_the_last_bit(cases):
    assert [ordered_dot(a, b) for a, b in cases] == pinned_dots(cases)


@settings(max_examples=100, deadline=None)
@given(pair_lists(8, 40))
def test_ordered_dot_of_eight_pairs_or_more_is_numpys_own_dot(pair):
    weights, values = pair
    expected = float(np.dot(np.array(weights, dtype=np.float64), np.array(values, dtype=np.float64)))
    assert ordered_dot(weights, values) == expected


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=2, max_value=120),
    st.integers(min_value=1, max_value=12),
    st.floats(min_value=0.0, max_value=1.0),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=1, max_value=6),
)
def test_kept_peer_counts_give_the_mat_vecs_shares_to_the_last_bit(n, mean_degree, rewire, seed, months):
    """Month after month, adopters joining and leaving, the kept counts give each asked developer the mat-vec's share."""
    rng = np.random.default_rng(seed)
    network = PeerNetwork(n, NetworkKind.SMALL_WORLD, mean_degree, rewire, rng)
    adopted = rng.random(n) < rng.random()
    for _ in range(months):
        flip = rng.random(n) < rng.random()
        adopted = adopted ^ flip
        idx = np.flatnonzero(rng.random(n) < 0.7)
        expected = network.peer_share(adopted)[idx]  # every share, by the mat-vec
        assert np.array_equal(network.peer_share(adopted, idx), expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=20))
def test_ordered_mean_is_numpys_mean_to_the_last_bit(values):
    assert ordered_mean(values) == float(np.mean(np.array(values, dtype=np.float64)))


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=-1e6, max_value=1e6),
)
def test_clamp_is_numpys_clip(value, low, high):
    expected = float(np.clip(value, low, high))
    got = clamp(value, low, high)
    assert got == expected or (np.isnan(got) and np.isnan(expected))


@pytest.mark.parametrize("scenario", ["baseline", "vertical-integration"])
def test_market_collector_records_what_mesas_collector_records(scenario):
    params = load_scenario(scenario, {"simulation.developer_agents": 300, "simulation.months": 14})
    model = MarketModel(params, rng=5)
    model_reporters, agenttype_reporters = MarketModel.reporters()
    mesas = mesa.DataCollector(model_reporters=model_reporters, agenttype_reporters=agenttype_reporters)
    for _ in range(params.simulation.months):
        model.step()
        mesas.collect(model)
    ours = model.datacollector
    pd.testing.assert_frame_equal(ours.get_model_vars_dataframe(), mesas.get_model_vars_dataframe(), check_exact=True)
    for agent_type in (LabAgent, CloudAgent):
        pd.testing.assert_frame_equal(
            ours.get_agenttype_vars_dataframe(agent_type),
            mesas.get_agenttype_vars_dataframe(agent_type),
            check_exact=True,
        )


@st.composite
def short_rows(draw):
    """A few rows of equal length and how many leading columns to sum (all, or all but one or two)."""
    width = draw(st.integers(min_value=1, max_value=12))
    length = width + draw(st.integers(min_value=0, max_value=2))
    row = st.lists(st.floats(min_value=-1e12, max_value=1e12), min_size=length, max_size=length)
    return draw(st.lists(row, min_size=1, max_size=20)), width


@settings(max_examples=300, deadline=None)
@given(short_rows())
def test_column_sums_are_numpys_column_sums_to_the_last_bit(rows_and_width):
    rows, width = rows_and_width
    expected = np.array(rows, dtype=np.float64)[:, :width].sum(axis=0)
    assert column_sums(np.array(rows, dtype=np.float64), width).tolist() == expected.tolist()


@st.composite
def month_bill(draw):
    """A month's (clouds x buyers) contract values, served and asked compute, and the clouds' spot prices."""
    clouds = draw(st.integers(min_value=1, max_value=10))
    buyers = draw(st.integers(min_value=2, max_value=5))
    figure = st.floats(min_value=1e-6, max_value=1e9) | st.just(0.0)
    table = st.lists(figure, min_size=clouds * buyers, max_size=clouds * buyers).map(
        lambda values: np.array(values).reshape(clouds, buyers)
    )
    value, contract, spot, asked = draw(table), draw(table), draw(table), draw(table)
    prices = np.array(draw(st.lists(st.floats(0.0, 1e4), min_size=clouds, max_size=clouds)))
    return value, contract, spot, asked, prices


@settings(max_examples=300, deadline=None)
@given(month_bill())
def test_the_compiled_bill_is_numpys_bill_to_the_last_bit(bill):
    value, contract, spot, asked, price = bill
    labs = value.shape[1] - 1
    total_asked = asked.sum(axis=1)
    fill = np.array([c.sum() / a if a > 0 else 1.0 for c, a in zip(contract, total_asked, strict=True)])
    paid = value * fill[:, None] + spot * price[:, None]
    asked_by = asked.sum(axis=0)
    lab_fill = [contract[:, j].sum() / asked_by[j] if asked_by[j] > 0 else 1.0 for j in range(labs)]
    expected = (
        paid.sum(axis=1),
        paid[:, :labs].sum(axis=0),
        (spot * price[:, None])[:, :labs].sum(axis=0),
        (contract + spot)[:, :labs].sum(axis=0),
        np.array(lab_fill),
        np.array([spot[:, j].sum() for j in range(labs)]),
        (contract[:, -1] + spot[:, -1]).sum(),
        paid[:, -1].sum(),
    )
    got = settle_compute(value, contract, spot, asked, price)
    for ours, numpys in zip(got, expected, strict=True):
        assert np.asarray(ours).tolist() == np.asarray(numpys).tolist()


@st.composite
def contract_lists(draw):
    """Contracts as a lab signs them (numpy accelerators, plain prices) with up to four clouds, and a month."""
    month = draw(st.integers(min_value=24_000, max_value=24_040))
    contract = st.builds(
        lambda cloud, start, months, acc, price: Contract(cloud, start, start + months, np.float64(acc), price),
        st.integers(0, 3),
        st.integers(month - 30, month + 30),
        st.integers(1, 24),
        st.floats(1e-3, 1e7),
        st.floats(0.0, 1e4),
    )
    return draw(st.lists(contract, max_size=60)), month


@settings(max_examples=300, deadline=None)
@given(contract_lists(), st.integers(0, 12), st.integers(0, 24))
def test_the_contract_book_reads_as_the_rules_over_its_contracts_written_plainly(case, ahead, horizon):
    contracts, month = case
    book = ContractBook(4, contracts)
    live = [c for c in contracts if c.start <= month < c.end]
    acc, value, count = book.read_month(month)
    plain = (sum(c.acc for c in live), sum(c.acc * c.price_usd_per_acc_month for c in live), len(live))
    assert (acc, value, count) == plain and [type(x) for x in (acc, value)] == [type(x) for x in plain[:2]]
    by_acc, by_value = [0.0] * 4, [0.0] * 4
    for c in live:
        by_acc[c.cloud] += c.acc
        by_value[c.cloud] += c.acc * c.price_usd_per_acc_month
    assert book.month_by_cloud(month) == (by_acc, by_value)
    later = month + ahead
    booked = sum(c.acc for c in contracts if c.start <= later < c.end)
    assert book.booked(later) == booked and type(book.booked(later)) is type(booked)
    assert book.booked(later, 2) == sum(c.acc for c in contracts if c.start <= later < c.end and c.cloud == 2)
    first, last = month + 1, month + 1 + horizon
    bound = 0
    for c in contracts:
        overlap = min(c.end, last) - max(c.start, first)
        bound += c.acc * c.price_usd_per_acc_month * (overlap if overlap > 0 else 0)
    assert book.bound_usd(first, last) == bound and type(book.bound_usd(first, last)) is type(bound)
    book.drop_ended(month)
    assert list(book) == [c for c in contracts if c.end > month], "the running contracts, in the order signed"


def test_conditions_built_without_the_frozen_init_are_the_dataclass_it_would_build():
    model = MarketModel(load_scenario("baseline", {"simulation.developer_agents": 50}), rng=0)
    model.run(3)
    built = model.observe_market()
    assert set(vars(built)) == {f.name for f in dataclasses.fields(MarketConditions)}, "every field, no other"
    assert dataclasses.replace(built) == built
    assert math.isnan(built.base_price_usd_per_acc_month), "cloud prices are set after the cloud phase"


@pytest.mark.parametrize("scenario", ["baseline", "vertical-integration"])
def test_a_clouds_kept_expected_capacity_is_its_places_and_the_builds_due_written_plainly(scenario):
    model = MarketModel(load_scenario(scenario, {"simulation.developer_agents": 50, "simulation.months": 30}), rng=0)
    for _ in range(30):
        model.step()
        for cloud in model.clouds:
            for month in range(model.month - 2, model.month + 30):
                plain = cloud.capacity + sum(q for t, q in cloud.pipeline if t <= month)
                assert cloud.expected_capacity(month) == plain, (cloud.name, model.month, month)


@settings(max_examples=200, deadline=None)
@given(pair_lists(1, 12))
def test_a_weighted_mean_in_one_pass_is_the_ordered_dot_over_the_ordered_sum_to_the_last_bit(pair):
    weights, values = pair
    assume(ordered_sum(weights) > 0)
    assert ordered_weighted_mean(weights, values) == ordered_dot(weights, values) / ordered_sum(weights)


price_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(0.0, 1e4))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda labs: st.tuples(
            st.lists(st.booleans(), min_size=labs, max_size=labs),
            st.integers(0, 3).flatmap(
                lambda plans: st.lists(
                    st.lists(price_values, min_size=plans, max_size=plans), min_size=labs, max_size=labs
                )
            ),
            st.lists(st.floats(0.0, 1.0), min_size=labs, max_size=labs),
        )
    ),
    st.floats(0.0, 1.0),
    st.floats(1e-300, 1.0),
)
def test_the_offers_prices_read_in_one_pass_are_the_rules_written_plainly(offer, half, width):
    active, prices, capability = offer
    plans = len(prices[0])
    option_price, minus_z = kernels.offer_prices(
        np.array(active), np.array(prices, dtype=np.float64).reshape(len(active), plans), np.array(capability),
        half, width, np.empty((2, max(len(active) * plans, len(active)))), np.empty(len(active)),
    )  # fmt: skip
    sub = [
        math.inf
        if math.isnan(v) or not active[lab]
        else (v if math.isfinite(v) else math.copysign(kernels.FLOAT_MAX, v))
        for lab in range(len(active))
        for v in prices[lab]
    ]
    api = [0.0 if on else math.inf for on in active]
    width_k = option_price.shape[1]
    assert option_price.tolist() == [sub + [math.inf] * (width_k - len(sub)), api + [math.inf] * (width_k - len(api))]
    assert minus_z.tolist() == [-min(max((c - half) / width, -50.0), 50.0) for c in capability]


def test_the_market_collector_validates_its_reporters_as_mesa_does_before_the_first_collection():
    model = MarketModel(load_scenario("baseline", {"simulation.developer_agents": 50}), rng=0)
    model.step()
    collector = MarketDataCollector(model_reporters={"adopters": "adopters", "typo": "adoptors"})
    with pytest.raises(AttributeError, match="Model reporter 'typo' references non-existent attribute 'adoptors'"):
        collector.collect(model)
