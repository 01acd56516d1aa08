"""Benchmark harness: how fast the developer population runs, against two yardsticks.

For each developer agent count the harness measures, in a fresh Python process (so that the
peak memory belongs to that size alone):

* ``agent_steps_per_s``: developer agent-steps per second of the whole model (baseline
  scenario, data collection on), i.e. agents x months / wall seconds of ``run()``;
* ``boltzmann_agent_steps_per_s``: the same figure for Mesa's bundled Boltzmann wealth
  model (one agent per grid cell, data collection as bundled), measured in the same
  process, with fewer steps at large sizes; ``ratio_vs_boltzmann`` = ours / its;
* ``numpy_kernel_agent_steps_per_s``: a bare numpy version of the developers' adoption rule
  alone (no Mesa, no supply side, see :func:`run_adoption_kernel`), the most the Python
  stack allows for that rule; ``slowdown_vs_numpy_kernel`` = kernel / ours;
* ``build_s``: seconds to construct the model (agents, network, supply graph);
* ``peak_memory_mb``: peak resident memory of the process after building and running our
  model (``ru_maxrss``, MB; the interpreter and libraries included), before any yardstick ran;
* ``supply_phase_ms``: mean milliseconds per month of everything in ``step()`` except the
  developers' array work and data collection: the supply, cloud and lab phases, the lab
  side of the developer phase (offer, demand bookings), ``clear_market`` and
  ``settle_books``, less the time spent inside :class:`DeveloperPopulation` methods and
  in model methods that read the developer arrays.

Besides the sizes, ``month_overhead_ms`` is the time of one month of the whole model at 100
developer agents (data collection on): the cost of a month that does not depend on the size.

Times are CPU seconds of the measuring process (``time.process_time``), which other work on
a shared machine disturbs far less than wall time; the code is single-threaded, so on an
idle machine the two agree. The ratios are taken in rounds: each round times our model,
then the kernel, then Boltzmann, back to back in the same process, so that a change of load
touches all three; small sizes run several times per round (about
:data:`ROUND_AGENT_STEPS` agent-steps). Each figure is the median over the rounds, and the
ratios of every round are kept (``*_rounds``).
"""

from __future__ import annotations

import gc
import json
import math
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from agentmarket.params import Params

KEYS = (
    "agent_steps_per_s",
    "boltzmann_agent_steps_per_s",
    "ratio_vs_boltzmann",
    "numpy_kernel_agent_steps_per_s",
    "slowdown_vs_numpy_kernel",
    "build_s",
    "peak_memory_mb",
    "supply_phase_ms",
)
clock = time.process_time  # CPU seconds of this process
DEFAULT_SIZES = (2_000, 10_000, 100_000, 1_000_000)
BOLTZMANN_AGENT_STEPS = 1_000_000  # budget of Boltzmann agent-steps per run (at least one step)
ROUND_AGENT_STEPS = 500_000  # per round, run our model and the kernel until about this many agent-steps
ROUNDS = 5  # rounds of model, kernel and Boltzmann per size
BOLTZMANN_ROUNDS_ABOVE = (100_000, 1)  # above this many agents Boltzmann runs once (a step of a million: ~25 s)
OVERHEAD_AGENTS = 100  # month_overhead_ms: a month of the whole model at this many developer agents
OVERHEAD_ROUND_MONTHS = 120  # months simulated per round of the overhead measurement
SUPPLY_PHASES = ("supply_phase", "cloud_phase", "lab_phase", "developer_phase", "clear_market", "settle_books")
DEVELOPER_READERS = ("_adopter_wage_quantiles",)  # model methods that read the developer arrays


def peak_memory_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def add_timer(owner: object, name: str, totals: dict[str, float], key: str, within: str | None = None) -> None:
    """Replace ``owner.name`` (a bound method) by one that adds its CPU seconds (:data:`clock`) to ``totals[key]``.

    Only the outermost of nested timed calls under the same key is counted, and with
    ``within`` only calls made inside a timed call under that key.
    """
    method = getattr(owner, name)
    depth = f"{key}:depth"
    totals.setdefault(depth, 0)
    totals.setdefault(key, 0.0)

    def timed(*args, **kwargs):
        totals[depth] += 1
        start = clock()
        try:
            return method(*args, **kwargs)
        finally:
            totals[depth] -= 1
            if totals[depth] == 0 and (within is None or totals[f"{within}:depth"] > 0):
                totals[key] += clock() - start

    setattr(owner, name, timed)


def time_phases(model) -> dict[str, float]:
    """Wrap the model's phases and the developer array methods with timers; returns the totals (s).

    ``developer_phase`` includes ``decide`` and ``demand_by_lab``; both are developer array
    work, as are ``pay`` and the per-lab sums in ``settle_books``.
    """
    from agentmarket.agents.developers import DeveloperPopulation

    totals = {"phases": 0.0, "developers": 0.0}
    for name in SUPPLY_PHASES:
        add_timer(model, name, totals, "phases")
    pop = model.developers
    for name, value in vars(DeveloperPopulation).items():
        if callable(value) and not name.startswith("__"):
            add_timer(pop, name, totals, "developers", within="phases")
    for name in DEVELOPER_READERS:
        if callable(getattr(model, name, None)):
            add_timer(model, name, totals, "developers", within="phases")
    return totals


def us_per_month(
    n: int, months: int, runs: int, install: Callable[[object, dict[str, float]], None], seed: int = 0
) -> tuple[dict[str, float], float]:
    """CPU microseconds per month of what ``install`` times, and of the whole run, over ``runs`` baseline runs.

    One untimed run warms the process first. Before each timed run, ``install(model, totals)``
    wraps what it times with :func:`add_timer` into ``totals``. Returns each key's mean
    microseconds per month and the run's.
    """
    from agentmarket.model import MarketModel

    params = baseline_params(n, months)
    MarketModel(params, rng=seed).run()
    totals: dict[str, float] = {}
    whole = 0.0
    for _ in range(runs):
        gc.collect()
        model = MarketModel(params, rng=seed)
        install(model, totals)
        start = clock()
        model.run()
        whole += clock() - start
    per_month = 1e6 / (months * runs)
    return {k: v * per_month for k, v in totals.items() if not k.endswith(":depth")}, whole * per_month


def count_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``, else one line naming what is allowed (exit 2)."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}, not {text!r}")
        return value

    return parse


def baseline_params(n: int, months: int) -> Params:
    """The baseline scenario with ``n`` developer agents, ``months`` months and data collection on: what the bench runs."""
    from agentmarket.scenarios import load_scenario

    return load_scenario(
        "baseline",
        {"simulation.developer_agents": n, "simulation.months": months, "simulation.collect_data": True},
    )


def measure_model(n: int, months: int, seed: int, timed_phases: bool = False) -> dict[str, float]:
    """Build and run the baseline model with ``n`` developer agents for ``months`` months.

    Returns build seconds, run seconds, and with ``timed_phases`` the mean supply-side
    milliseconds per month (timers add a microsecond or so per call, so the run time is
    taken from a run without them).
    """
    from agentmarket.model import MarketModel

    params = baseline_params(n, months)
    gc.collect()  # a model is freed by the cycle collector: free earlier ones now, not inside the timing
    start = clock()
    model = MarketModel(params, rng=seed)
    build_s = clock() - start
    totals = time_phases(model) if timed_phases else None
    start = clock()
    model.run(months)
    run_s = clock() - start
    out = {"build_s": build_s, "run_s": run_s, "adoption_share": float(model.adoption_share)}
    if totals is not None:
        out["supply_phase_ms"] = (totals["phases"] - totals["developers"]) / months * 1e3
    return out


def measure_boltzmann(n: int, steps: int, seed: int) -> float:
    """Agent-steps per second of Mesa's bundled Boltzmann wealth model.

    ``n`` agents on a square grid with one cell per agent, ``steps`` steps, data collection
    as bundled (construction not timed).
    """
    from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannScenario, BoltzmannWealth

    side = math.ceil(math.sqrt(n))
    model = BoltzmannWealth(BoltzmannScenario(n=n, width=side, height=side, rng=seed))
    start = clock()
    for _ in range(steps):
        model.step()
    return n * steps / (clock() - start)


def make_kernel_population(n: int, seed: int) -> dict[str, np.ndarray]:
    """Developers for the bare kernel, drawn as the baseline scenario draws them, plus their network."""
    from agentmarket.network import PeerNetwork
    from agentmarket.params import NetworkKind
    from agentmarket.scenarios import load_scenario

    p = load_scenario("baseline", {"simulation.developer_agents": max(n, 1)})
    d, net = p.developers, p.network
    rng = np.random.default_rng(seed)
    wage = np.exp(np.log(d.wage_median_usd_per_day) + d.wage_sigma * rng.standard_normal(n))
    network = PeerNetwork(n, NetworkKind(net.kind), net.mean_degree, net.rewire_prob, rng)
    return {
        "wage_month": wage * p.market.workdays_per_month * (1.0 - d.review_overhead),
        "affinity": rng.gamma(d.affinity_shape, 1.0 / d.affinity_shape, size=n),
        "api": rng.random(n) < d.api_channel_share,
        "network": network,
        "params": p,
    }


def run_adoption_kernel(pop: dict, months: int, seed: int) -> np.ndarray:
    """The developers' adoption rule alone, in bare numpy, for ``months`` months; returns the states.

    Each month every non-adopter: takes the adopting share of its peers (one CSR mat-vec),
    values each option (subscription: two labs x two plans; API: two labs, metered) and
    picks the best after Gumbel noise, takes the return of that option (value / price),
    passes it through the logistic ROI gate, adopts with the Bass hazard
    gate x (p + q x peer share) against a uniform draw. The offer is fixed; adopters stay.
    """
    p = pop["params"]
    a, d = p.adoption, p.developers
    rng = np.random.default_rng(seed)
    wage_month, affinity, api, network = pop["wage_month"], pop["affinity"], pop["api"], pop["network"]
    n = wage_month.size
    capability = np.array([0.12, 0.11])  # share of work each lab's agent can do (affinity 1)
    plan_price = np.array([20.0, 100.0, 20.0, 200.0])  # USD/month: lab_a pro, max; lab_b pro, max
    plan_cap = np.array([0.04, 0.2, 0.04, 0.3])
    api_usd_per_work_share = d.compute_acc_per_work_share * np.array([1400.0, 1400.0])  # USD/month
    adopted = np.zeros(n, dtype=bool)
    for _ in range(months):
        peers = network.peer_share(adopted)
        for channel_api in (False, True):
            idx = np.flatnonzero(~adopted & (api == channel_api))
            aff, wm = affinity[idx], wage_month[idx]
            if channel_api:
                share = np.minimum(1.0, aff[None, :] * capability[:, None])
                cost = share * api_usd_per_work_share[:, None]
            else:
                auto = np.minimum(1.0, aff[None, :] * np.repeat(capability, 2)[:, None])
                share = np.minimum(auto, plan_cap[:, None])
                cost = np.broadcast_to(plan_price[:, None], share.shape)
            value = share * wm
            u = rng.random((idx.size, share.shape[0]))
            noise = np.log(-np.log(1.0 - u)).T  # minus a standard Gumbel draw
            net = value - cost - d.choice_noise_usd * noise
            best = np.zeros(idx.size, dtype=np.int64)
            top = net[0].copy()
            for j in range(1, net.shape[0]):
                better = net[j] > top
                best[better] = j
                np.copyto(top, net[j], where=better)
            cols = np.arange(idx.size)
            roi = value[best, cols] / cost[best, cols]
            z = np.clip((np.log(roi) - np.log(a.roi_threshold)) / a.roi_spread, -50.0, 50.0)
            hazard = (a.innovation + a.imitation * peers[idx]) / (1.0 + np.exp(-z))
            adopted[idx[rng.random(idx.size) < hazard]] = True
    return adopted


def measure_kernel(n: int, months: int, seed: int, runs: int = 1, pop: dict | None = None) -> float:
    """Agent-steps per second of :func:`run_adoption_kernel` over ``runs`` runs (population drawn outside the timing)."""
    pop = make_kernel_population(n, seed) if pop is None else pop
    start = clock()
    for _ in range(runs):
        run_adoption_kernel(pop, months, seed)
    return n * months * runs / (clock() - start)


def median(values: list[float]) -> float:
    """The median of a non-empty list."""
    return float(np.median(values))


def measure_size(n: int, months: int, seed: int = 0, rounds: int = ROUNDS) -> dict:
    """Every figure of the harness for one agent count, in this process (see the module docstring)."""
    first = measure_model(n, months, seed)
    memory = peak_memory_mb()
    per_round = max(1, min(20, ROUND_AGENT_STEPS // (n * months)))
    steps = max(1, min(months, BOLTZMANN_AGENT_STEPS // n))
    boltzmann_rounds = rounds if n <= BOLTZMANN_ROUNDS_ABOVE[0] else BOLTZMANN_ROUNDS_ABOVE[1]
    pop = make_kernel_population(n, seed)
    ours, kernel, boltzmann, supply = [], [], [], []
    for r in range(rounds):
        gc.collect()
        run_s = sum(measure_model(n, months, seed)["run_s"] for _ in range(per_round))
        ours.append(n * months * per_round / run_s)
        gc.collect()
        kernel.append(measure_kernel(n, months, seed, per_round, pop))
        if r < boltzmann_rounds:
            gc.collect()
            boltzmann.append(measure_boltzmann(n, steps, seed))
        supply.append(measure_model(n, months, seed, timed_phases=True)["supply_phase_ms"])
    vs_kernel = [k / o for k, o in zip(kernel, ours, strict=True)]
    vs_boltzmann = [o / b for o, b in zip(ours, boltzmann, strict=False)]
    out = {
        "agents": n,
        "months": months,
        "agent_steps_per_s": median(ours),
        "boltzmann_agent_steps_per_s": median(boltzmann),
        "ratio_vs_boltzmann": median(vs_boltzmann),
        "numpy_kernel_agent_steps_per_s": median(kernel),
        "slowdown_vs_numpy_kernel": median(vs_kernel),
        "build_s": first["build_s"],
        "peak_memory_mb": memory,
        "supply_phase_ms": median(supply),
        "us_per_agent_step": 1e6 / median(ours),
        "month_ms": 1e3 * n / median(ours),
        "boltzmann_steps": steps,
        "runs_per_round": per_round,
        "ratio_vs_boltzmann_rounds": vs_boltzmann,
        "slowdown_vs_numpy_kernel_rounds": vs_kernel,
        "adoption_share": first["adoption_share"],
    }
    return out


def measure_overhead(months: int, seed: int = 0, rounds: int = ROUNDS) -> dict:
    """``month_overhead_ms``: median CPU ms of a month of the whole model at :data:`OVERHEAD_AGENTS` developers.

    As :func:`measure_size`, one untimed run warms the process first: its first run costs
    several times a later one (3.0 against 0.8 ms a month, one round each).
    """
    n = OVERHEAD_AGENTS
    measure_model(n, months, seed)  # untimed: the process's first run loads compiled code and validates reporters
    per_round = max(1, OVERHEAD_ROUND_MONTHS // months)
    month_ms = []
    supply = []
    for _ in range(rounds):
        gc.collect()
        run_s = sum(measure_model(n, months, seed)["run_s"] for _ in range(per_round))
        month_ms.append(run_s / (months * per_round) * 1e3)
        supply.append(measure_model(n, months, seed, timed_phases=True)["supply_phase_ms"])
    return {
        "month_overhead_ms": median(month_ms),
        "month_overhead_ms_rounds": month_ms,
        "supply_phase_ms": median(supply),
    }


def measure_in_subprocess(call: str, what: str) -> dict:
    """``agentmarket.bench.<call>`` in a fresh interpreter, so peak memory is that measurement's own."""
    code = f"import json, agentmarket.bench as b; print(json.dumps(b.{call}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-1:])
        raise RuntimeError(f"benchmark {what} failed: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_bench(
    sizes: list[int],
    months: int = 24,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    rounds: int = ROUNDS,
) -> tuple[list[dict], dict]:
    """Measure every size, each in its own process, then the month's overhead.

    Returns one dict of figures per size, and the overhead figures (``month_overhead_ms``).
    """
    results = []
    for n in sizes:
        if progress is not None:
            progress(f"{n:,} developer agents, {months} months")
        results.append(measure_in_subprocess(f"measure_size({n}, {months}, {seed}, {rounds})", f"at {n} agents"))
    if progress is not None:
        progress(f"a month at {OVERHEAD_AGENTS} developer agents")
    overhead = measure_in_subprocess(f"measure_overhead({months}, {seed}, {rounds})", "of the month's overhead")
    return results, overhead


def check_targets(results: list[dict], overhead: dict | None = None) -> list[tuple[str, bool | None, str]]:
    """The performance targets, each as (target, met or None when not measured, the figures)."""
    by_n = {r["agents"]: r for r in results}
    out: list[tuple[str, bool | None, str]] = []
    for n, most in ((2_000, 3.0), (10_000, 2.0), (1_000_000, 1.5)):
        r = by_n.get(n)
        rounds = "" if r is None else ", rounds " + " ".join(f"{x:.2f}" for x in r["slowdown_vs_numpy_kernel_rounds"])
        out.append(
            (
                f"at most {most:g}x the numpy kernel at {n:,} (median of rounds)",
                None if r is None else r["slowdown_vs_numpy_kernel"] <= most,
                "" if r is None else f"{r['slowdown_vs_numpy_kernel']:.2f}x{rounds}",
            )
        )
    r = by_n.get(100_000)
    runs = [] if r is None else r["ratio_vs_boltzmann_rounds"]
    out.append(
        (
            f">= 50x Boltzmann agent-steps/s at 100,000 in every one of {ROUNDS} rounds",
            None if r is None else len(runs) >= ROUNDS and min(runs) >= 50,
            "" if r is None else "rounds " + " ".join(f"{x:.0f}x" for x in runs),
        )
    )
    small, large = by_n.get(10_000), by_n.get(1_000_000)
    growth = None if small is None or large is None else large["us_per_agent_step"] / small["us_per_agent_step"]
    out.append(
        (
            "time per agent-step grows < 1.5x from 10,000 to 1,000,000",
            None if growth is None else growth < 1.5,
            "" if growth is None else f"{growth:.2f}x",
        )
    )
    out.append(
        (
            "1,000,000 agents built and run within 8 GB",
            None if large is None else large["peak_memory_mb"] < 8192,
            "" if large is None else f"{large['peak_memory_mb']:.0f} MB",
        )
    )
    supply = [r["supply_phase_ms"] for r in results] + ([overhead["supply_phase_ms"]] if overhead else [])
    worst = max(supply)
    out.append(("supply-side phase < 1 ms per month at any size", worst < 1.0, f"at most {worst:.2f} ms"))
    return out


def json_line(results: list[dict], months: int, seed: int, overhead: dict | None = None) -> str:
    """The machine-readable summary: one line, figures keyed by agent count, and the month's overhead."""
    rounds = ("ratio_vs_boltzmann_rounds", "slowdown_vs_numpy_kernel_rounds")
    sizes = {str(r["agents"]): {k: r[k] for k in (*KEYS, *rounds) if k in r} for r in results}
    summary = {"date": date.today().isoformat(), "months": months, "seed": seed, "sizes": sizes}
    if overhead is not None:
        summary["month_overhead_ms"] = overhead["month_overhead_ms"]
    summary["targets"] = {target: met for target, met, _ in check_targets(results, overhead)}
    return json.dumps(summary)


def parse_sizes(text: str) -> list[int]:
    """``"10000,100000"`` -> ``[10000, 100000]``; each size a positive whole number of agents."""
    from agentmarket.errors import InputError

    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--sizes must be comma-separated whole numbers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise InputError(f"--sizes must list at least one positive agent count, got {text!r}")
    return sizes


TABLE_COLUMNS = (
    ("agents", "agents", "{:,.0f}"),
    ("ms/month", "month_ms", "{:.2f}"),
    ("ours agent-steps/s", "agent_steps_per_s", "{:,.0f}"),
    ("us/agent-step", "us_per_agent_step", "{:.3f}"),
    ("Boltzmann agent-steps/s", "boltzmann_agent_steps_per_s", "{:,.0f}"),
    ("x Boltzmann", "ratio_vs_boltzmann", "{:,.0f}"),
    ("numpy kernel agent-steps/s", "numpy_kernel_agent_steps_per_s", "{:,.0f}"),
    ("slowdown vs kernel", "slowdown_vs_numpy_kernel", "{:.2f}"),
    ("build s", "build_s", "{:.2f}"),
    ("peak MB", "peak_memory_mb", "{:,.0f}"),
    ("supply ms/month", "supply_phase_ms", "{:.2f}"),
)


def table_rows(results: list[dict]) -> list[list[str]]:
    """The figures of each size as strings, in the order of :data:`TABLE_COLUMNS`."""
    return [[fmt.format(r[key]) for _title, key, fmt in TABLE_COLUMNS] for r in results]
