"""Posterior calibration (ABC-SMC): priors, the distance, the sampler on the executor, posterior draws.

The sampler is checked on a toy model whose posterior is known in form, so that these tests
take seconds; the recovery test (tests/test_recovery.py) runs the agent-based model itself.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from agentmarket.calibration.abc import (
    PRIORS,
    PriorSpace,
    ToleranceDistance,
    _sampler_class,
    credible_intervals,
    evaluation_seed,
    prior_space,
    weighted_quantile,
)
from agentmarket.calibration.calibrate import load_free_parameters
from agentmarket.calibration.hindcast import interval_score, naive_forecast, parse_cutoff, split_facts
from agentmarket.calibration.posterior import Posterior, draws_table
from agentmarket.calibration.validate import Target, fact_month, held_facts
from agentmarket.errors import InputError
from agentmarket.experiments.executor import open_executor


def test_every_free_parameter_has_a_prior_with_bounds_and_a_reason():
    free = load_free_parameters()
    assert free, "free_parameters.toml lists no parameter"
    for p in free:
        assert p.prior in PRIORS, f"{p.key} has no prior"
        assert len(p.reason) > 20, f"{p.key} gives no reason for its prior"
        assert p.low < p.high
    space = prior_space()
    assert space.keys == [p.key for p in free]


def test_a_log_uniform_prior_gives_each_decade_equal_weight():
    space = prior_space(["capability.half_compute_acc_months"])  # 1e9 .. 1e11
    draws = space.distribution().rvs  # one draw per call
    rng_state = np.random.get_state()
    np.random.seed(3)
    values = np.array([space.to_values(draws())["capability.half_compute_acc_months"] for _ in range(4000)])
    np.random.set_state(rng_state)
    assert values.min() >= 1e9 and values.max() <= 1e11
    low_decade = np.mean(values < 1e10)
    assert abs(low_decade - 0.5) < 0.05  # binomial sd at n = 4000 is 0.008


def test_an_integer_parameter_takes_every_whole_value_with_equal_chance():
    (p,) = [f for f in load_free_parameters() if f.integer][:1]
    space = PriorSpace((p,))
    lo, hi = space.support(p)
    grid = np.linspace(lo, hi, 100001)[:-1]
    whole = np.array([space.to_values({space.name(p): x})[p.key] for x in grid])
    counts = np.bincount(whole.astype(int) - int(p.low))
    assert len(counts) == int(p.high - p.low) + 1
    assert counts.max() - counts.min() <= 1


def test_a_prior_without_a_reason_is_refused():
    (p,) = load_free_parameters()[:1]
    from dataclasses import replace

    with pytest.raises(ValueError, match="reason"):
        PriorSpace((replace(p, reason=""),))
    with pytest.raises(ValueError, match="prior"):
        PriorSpace((replace(p, prior="normal"),))


def test_distance_counts_each_fact_in_units_of_its_tolerance():
    facts = held_facts()
    dist = ToleranceDistance(tuple(facts))
    record = {t.id: t.value for t, _ in facts}
    assert dist(record, record) == 0.0
    at_edge = {t.id: t.value * (1 + tol) for t, tol in facts}
    assert dist(at_edge, record) == pytest.approx(1.0)
    one_off = dict(record)
    first, tol = facts[0]
    one_off[first.id] = first.value * (1 - 2 * tol)  # two bands out on one fact
    assert dist(one_off, record) == pytest.approx(math.sqrt(4 / len(facts)))
    missing = dict(record, **{first.id: math.nan})
    assert dist(missing, record) == math.inf


# ----- the sampler on the executor, on a toy model ---------------------------------------------
def toy_model(theta: dict) -> dict:
    """y ~ Normal(mu, 0.3): the posterior of mu concentrates near the observed y."""
    return {"y": theta["mu"] + 0.3 * np.random.normal()}


def toy_distance(x: dict, x0: dict) -> float:
    return abs(x["y"] - x0["y"])


def run_toy(tmp_path, name: str, workers: int, generations: int, resume_from: str | None = None, seed: int = 1):
    import pyabc

    db = f"sqlite:///{tmp_path / (resume_from or name)}.db"
    with open_executor(workers) as ex:
        abc = pyabc.ABCSMC(
            toy_model,
            pyabc.Distribution(mu=pyabc.RV("uniform", -5, 10)),
            toy_distance,
            population_size=30,
            sampler=_sampler_class()(ex, seed=seed),
            eps=pyabc.MedianEpsilon(),
        )
        if resume_from:
            history = abc.load(db, 1)
            done = history.max_t + 1
        else:
            abc.new(db, {"y": 1.5})
            done = 0
        history = abc.run(max_nr_populations=generations - done)
    frame, w = history.get_distribution(m=0, t=history.max_t)
    return frame["mu"].to_numpy(), np.asarray(w), history.total_nr_simulations


def test_the_posterior_is_the_same_on_one_worker_or_two(tmp_path):
    mu1, w1, n1 = run_toy(tmp_path, "one", workers=1, generations=3)
    mu2, w2, n2 = run_toy(tmp_path, "two", workers=2, generations=3)
    np.testing.assert_array_equal(mu1, mu2)
    np.testing.assert_array_equal(w1, w2)
    assert n1 == n2
    assert abs(weighted_quantile(mu1, w1, 0.5) - 1.5) < 1.0  # it learnt: the prior's median is 0


def test_a_resumed_calibration_ends_where_an_uninterrupted_one_does(tmp_path):
    straight, w_straight, _ = run_toy(tmp_path, "straight", workers=1, generations=3)
    run_toy(tmp_path, "cut", workers=1, generations=1)
    resumed, w_resumed, _ = run_toy(tmp_path, "cut", workers=1, generations=3, resume_from="cut")
    np.testing.assert_allclose(resumed, straight, rtol=1e-12)
    np.testing.assert_allclose(w_resumed, w_straight, rtol=1e-9)


def test_another_seed_gives_another_sample(tmp_path):
    a, _, _ = run_toy(tmp_path, "a", workers=1, generations=1, seed=1)
    b, _, _ = run_toy(tmp_path, "b", workers=1, generations=1, seed=2)
    assert not np.array_equal(a, b)
    assert evaluation_seed(1, 0, 5) != evaluation_seed(1, 0, 6) != evaluation_seed(1, 1, 5)


# ----- reading a posterior ----------------------------------------------------------------------
def small_posterior(weights=(0.25, 0.25, 0.25, 0.25, 0.0)) -> Posterior:
    rows = []
    for i, w in enumerate(weights):
        rows.append(
            {"adoption.imitation": 0.2 + 0.05 * i, "labs.lab_a.training_lookahead_months": float(i), "weight": w}
        )
    return Posterior(pd.DataFrame(rows))


def test_a_run_draws_its_parameters_by_its_seed_and_weight():
    post = small_posterior()
    assert post.draw(7) == post.draw(7)
    draws = draws_table(post, list(range(400)))
    assert draws["adoption.imitation"].nunique() == 4  # the weight-0 particle is never drawn
    assert 0.4 not in set(draws["adoption.imitation"].round(6))
    assert draws["labs.lab_a.training_lookahead_months"].map(type).eq(int).all()
    share = (draws["adoption.imitation"].round(6) == 0.2).mean()
    assert abs(share - 0.25) < 0.1  # binomial sd at n = 400 is 0.022


def test_credible_intervals_are_weighted():
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0, 100.0], "weight": [0.0, 0.5, 0.5, 0.0]})
    (row,) = credible_intervals(table).to_dict("records")
    assert row["low"] == 2.0 and row["high"] == 3.0


# ----- hindcast scoring -------------------------------------------------------------------------
def test_interval_score_charges_width_and_twenty_times_a_miss():
    assert interval_score(1.0, 3.0, 2.0) == 2.0
    assert interval_score(1.0, 3.0, 4.0) == pytest.approx(2.0 + 20 * 1.0)
    assert interval_score(1.0, 3.0, 0.5) == pytest.approx(2.0 + 20 * 0.5)
    assert interval_score(2.0, 2.0, 2.5) == pytest.approx(10.0)


def test_the_benchmark_carries_the_last_growth_forward():
    def fact(i, period, value, unit="USD/year"):
        return Target(i, "revenue", "lab_a", period, value, str(value), unit, "fact", "")

    targets = [fact("a", "2023", 100.0), fact("b", "2024", 300.0), fact("c", "2025", 1.0)]
    assert naive_forecast(targets[2], "2024-12", targets) == pytest.approx(900.0)
    monthly = fact("m", "2025-06", 1.0, "USD/month")  # 11.5 months after the middle of 2024
    assert naive_forecast(monthly, "2024-12", targets) == pytest.approx(300 / 12 * 3 ** (11.5 / 12))
    assert naive_forecast(targets[2], "2023-12", targets) == pytest.approx(100.0)  # one point: the level
    assert naive_forecast(targets[2], "2022-12", targets) is None


def test_the_cutoff_splits_the_facts_by_date():
    known, later = split_facts("2025-06")
    assert known and later
    assert all(fact_month(t) <= "2025-06" for t, _ in known)
    assert all(fact_month(t) > "2025-06" for t, _ in later)
    assert {t.id for t, _ in known} | {t.id for t, _ in later} == {t.id for t, _ in held_facts()}
    with pytest.raises(InputError):
        parse_cutoff("2025-6")
