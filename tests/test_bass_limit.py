"""The Bass model is adoption's limit case: identical developers, everyone each other's peer,
no capacity limits, no churn, a return that always pays.

Two checks, both meant to hold for any seed (``BASS_SEED=S``, default 0, picks the runs:
``SeedSequence(S)`` gives the ``RUNS`` seeds of each parameter pair).

**The mean path follows the recursion** F(t+1) = F(t) + (p + q F(t)) (1 - F(t)). One run does
not: about N p developers adopt first, and the noise in that small count moves the month
adoption takes off, which the steep middle of the curve magnifies. Over seeds 0-19 at
10,000 agents a single run missed the recursion by up to 0.17 at (p, q) = (0.001, 0.8), with
the sign of the error changing from seed to seed (the model is not biased; a fixed tolerance
of 0.02 held at one seed in twenty). So the test compares the mean of ``RUNS`` runs with
the recursion, month by month, within ``t * s(t) / sqrt(RUNS) + 1 / N``: ``s(t)`` is the
seed-to-seed standard deviation the test measures in its own runs, ``t`` the Student
quantile (``RUNS - 1`` degrees of freedom) that puts the chance of a false alarm at
``FALSE_ALARM`` per parameter pair, Bonferroni over the months, and ``1 / N`` the share's
resolution (one agent, for months where every run has reached everyone). Measured over
seeds 0-19 at every pair of p in {0.001, 0.01, 0.03, 0.05} x q in {0.05, 0.3, 0.5, 0.8}, the
worst month used 0.6 of that tolerance (means of 10 runs, 10,000 agents, 60 months); in the
test's own runs (5,000 agents, 48 months) seeds 0-19 used at most 0.65 of it.

**Each month's adopters are the Bass hazard's draw.** Given the adopters A(t) at the start
of a month, each of the N - A(t) others adopts independently with probability
p + q A(t) / (N - 1) (on a complete network one's peers are the other N - 1), so the new
adopters are binomial. The test asks the exact two-sided binomial tail of every month of
every run to stay above ``FALSE_ALARM`` / (months x runs), and the standardised sum of all
months' surprises to stay within the normal quantile of ``FALSE_ALARM``. This check is
sharp (a tenth less imitation fails it by far) where the path check is loose at small p.

With six pairs and two checks, a correct model fails the module with probability below
1.2 %. ``BASS_SEED=S pytest tests/test_bass_limit.py`` passed for each S in 0-19 (smallest binomial
tail 0.017 / (months x runs), largest total surprise 2.34 sd).
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import pytest
from scipy import stats

from agentmarket import MarketModel, load_scenario
from agentmarket.params import Params

SEED = int(os.environ.get("BASS_SEED", "0"))
RUNS = 10
"""Runs per parameter pair: enough for a stable seed-to-seed spread, few enough for CI."""
FALSE_ALARM = 1e-3
"""Chance that a correct model fails one check at one parameter pair."""

SIZE = ("simulation.developer_agents=5000", "simulation.months=48", "simulation.collect_data=false")
"""Smaller than the scenario's 10,000 agents and 60 months, for CI: both checks scale their
tolerance with the noise, and by month 48 every pair's curve has taken off."""

BOX = [(0.001, 0.05), (0.001, 0.8), (0.05, 0.05), (0.05, 0.8), (0.01, 0.3), (0.03, 0.5)]
"""The corners of the box p in [0.001, 0.05], q in [0.05, 0.8], and two points inside it."""


def bass_recursion(p: float, q: float, months: int) -> np.ndarray:
    """F(t+1) = F(t) + (p + q F(t)) (1 - F(t)), from F(0) = 0; returns F(1)..F(months)."""
    f, out = 0.0, []
    for _ in range(months):
        f = f + (p + q * f) * (1.0 - f)
        out.append(f)
    return np.array(out)


def run_seeds(base_seed: int, runs: int = RUNS) -> list[int]:
    """The seeds of one check's runs, derived from the test's seed."""
    return [int(s) for s in np.random.SeedSequence(base_seed).generate_state(runs)]


def adoption_path(params: Params, seed: int) -> np.ndarray:
    """Adoption share after each month of one run."""
    model = MarketModel(params, rng=seed)
    path = []
    while model.running:
        model.step()
        path.append(model.adoption_share)
    return np.array(path)


@cache
def adoption_paths(p: float, q: float, *sets: str) -> tuple[np.ndarray, int]:
    """Adoption share by month of each run (runs x months), and the agent count N."""
    params = load_scenario("bass-limit", [f"adoption.innovation={p}", f"adoption.imitation={q}", *SIZE, *sets])
    paths = np.array([adoption_path(params, seed) for seed in run_seeds(SEED)])
    return paths, params.simulation.developer_agents


def path_miss(paths: np.ndarray, expected: np.ndarray, n_agents: int) -> float:
    """Largest monthly gap between the runs' mean and ``expected``, in units of its tolerance."""
    runs, months = paths.shape
    t = stats.t.ppf(1.0 - FALSE_ALARM / (2 * months), runs - 1)
    tolerance = t * paths.std(axis=0, ddof=1) / np.sqrt(runs) + 1.0 / n_agents
    return float(np.max(np.abs(paths.mean(axis=0) - expected) / tolerance))


def hazard_surprise(paths: np.ndarray, p: float, q: float, n: int) -> tuple[float, float]:
    """Smallest two-sided binomial tail of a month's new adopters, and the standardised total surprise."""
    adopters = np.rint(paths * n)
    before = np.hstack([np.zeros((paths.shape[0], 1)), adopters[:, :-1]])
    others, new = n - before, adopters - before
    hazard = p + q * before / (n - 1)
    tail = np.minimum(stats.binom.cdf(new, others, hazard), stats.binom.sf(new - 1, others, hazard))
    total = (new - others * hazard).sum() / np.sqrt((others * hazard * (1.0 - hazard)).sum())
    return float(np.min(np.minimum(1.0, 2.0 * tail))), float(total)


@pytest.mark.parametrize(("p", "q"), BOX)
def test_mean_adoption_of_the_bass_limit_follows_the_discrete_bass_recursion(p, q, record_property):
    paths, n = adoption_paths(p, q)
    assert paths.shape == (RUNS, 48) and n == 5000
    miss = path_miss(paths, bass_recursion(p, q, paths.shape[1]), n)
    record_property("tolerances_used", miss)
    assert miss <= 1.0, f"mean of {RUNS} runs off the recursion by {miss:.2f} tolerances (seed {SEED})"


@pytest.mark.parametrize(("p", "q"), BOX)
def test_each_months_new_adopters_are_the_bass_hazards_binomial_draw(p, q, record_property):
    paths, n = adoption_paths(p, q)
    smallest_tail, total = hazard_surprise(paths, p, q, n)
    tests = paths.size
    record_property("smallest_tail_times_tests", smallest_tail * tests)
    record_property("total_surprise_sd", total)
    assert smallest_tail >= FALSE_ALARM / tests, f"a month's adopters have tail {smallest_tail:.2e} (seed {SEED})"
    assert abs(total) <= stats.norm.ppf(1.0 - FALSE_ALARM / 2), f"adoption drifts: total surprise {total:.2f} sd"


def test_bass_limit_is_not_met_when_the_network_is_local(record_property):
    """The path check can fail: a sparse network slows imitation well below the well-mixed recursion."""
    p, q = 0.002, 0.8
    local = ("network.kind='small_world'", "network.mean_degree=2", "network.rewire_prob=0.0")
    paths, n = adoption_paths(p, q, *local)
    miss = path_miss(paths, bass_recursion(p, q, paths.shape[1]), n)
    record_property("tolerances_used", miss)
    assert miss > 3.0
