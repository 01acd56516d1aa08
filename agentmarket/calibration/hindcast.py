"""Out-of-sample scoring: calibrate on the facts known at a cutoff, forecast the facts after it.

A fact is dated by its ``period`` (an annual figure by its December, when it is known). The
posterior is calibrated on the held facts dated up to the cutoff, with runs that end there;
then ``runs`` posterior predictive runs (each drawing its parameters by its run seed) cover
every later fact. Each later fact gets its 90% predictive interval (the runs' 5-95%) and its
interval score (Gneiting and Raftery 2007, eq. 43) at alpha = 0.1::

    S(l, u; y) = (u - l) + (2 / alpha) (l - y) [y < l] + (2 / alpha) (y - u) [y > u]

divided by ``|y|`` so that figures in different units can be averaged (lower is better).

The naive benchmark carries the last year's growth forward: for a fact it takes the earlier
facts of the same metric and entity known at the cutoff, the growth per year between the last
two, and grows the last one by it to the fact's date (with a single earlier fact, the level is
carried forward; with none, the benchmark has no forecast). Its forecast is a point, scored as
an interval of zero width (``2 / alpha`` times the absolute error).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agentmarket.calibration.validate import (
    MODEL_VALUES,
    Target,
    fact_month,
    held_facts,
    load_targets,
    model_values,
)
from agentmarket.errors import InputError
from agentmarket.params import month_index

ALPHA = 0.1
FORECAST_STREAM = 16
SCOREBOARD_FILE = "scoreboard.csv"
FORECASTS_FILE = "forecasts.parquet"
CUTOFF_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def parse_cutoff(text: str) -> str:
    """A cutoff month ``YYYY-MM`` (:class:`InputError` otherwise)."""
    if not CUTOFF_RE.match(text or ""):
        raise InputError(f"--cutoff {text!r}: expected a month as YYYY-MM, e.g. 2024-12")
    return text


def split_facts(cutoff: str) -> tuple[list[tuple[Target, float]], list[tuple[Target, float]]]:
    """The held facts dated up to ``cutoff`` (to calibrate on) and after it (to forecast)."""
    cutoff = parse_cutoff(cutoff)
    every = held_facts()
    dates = sorted(fact_month(t) for t, _ in every)
    known, later = held_facts(until=cutoff), held_facts(after=cutoff)
    if not known:
        raise InputError(f"--cutoff {cutoff}: no fact is dated up to it to calibrate on (the first is {dates[0]})")
    if not later:
        raise InputError(f"--cutoff {cutoff}: no fact is dated after it to forecast (the last is {dates[-1]})")
    return known, later


def interval_score(low: float, high: float, y: float, alpha: float = ALPHA) -> float:
    """Gneiting and Raftery's interval score of the central (1 - alpha) interval [low, high] at y."""
    return (high - low) + (2 / alpha) * max(low - y, 0.0) + (2 / alpha) * max(y - high, 0.0)


def _centre(t: Target) -> float:
    """The fact's date as a month index: an annual figure at the middle of its year."""
    period = t.period.strip()
    if len(period) == 4:
        return month_index(f"{period}-01") + 5.5
    return float(month_index(period[:7]))


def _per_month(unit: str) -> float | None:
    """How many of ``unit`` make one unit per month (flows only)."""
    return {"USD/month": 1.0, "USD/year": 1 / 12}.get(unit)


def naive_forecast(fact: Target, cutoff: str, targets: list[Target] | None = None) -> float | None:
    """The benchmark's point forecast of ``fact`` from the facts known at ``cutoff``; None if it has none."""
    targets = load_targets() if targets is None else targets
    earlier = []
    for t in targets:
        if t.kind != "fact" or t.value is None or (t.metric, t.entity) != (fact.metric, fact.entity):
            continue
        if fact_month(t) > cutoff:
            continue
        if t.unit == fact.unit:
            value = t.value
        elif _per_month(t.unit) and _per_month(fact.unit):
            value = t.value * _per_month(t.unit) / _per_month(fact.unit)
        else:
            continue
        earlier.append((_centre(t), value))
    if not earlier:
        return None
    earlier.sort()
    (m1, v1) = earlier[-1]
    if len(earlier) == 1:
        return float(v1)
    (m0, v0) = earlier[-2]
    years = (_centre(fact) - m1) / 12
    if v0 > 0 and v1 > 0 and m1 > m0:
        growth = (v1 / v0) ** (12 / (m1 - m0))
        return float(v1 * growth**years)
    slope = (v1 - v0) / ((m1 - m0) / 12) if m1 > m0 else 0.0
    return float(v1 + slope * years)


def forecast_item(item: tuple[dict[str, Any], dict[str, Any], int, tuple[str, ...]]) -> dict[str, float]:
    """Worker side: one posterior predictive run; the later facts' model quantities."""
    from agentmarket.output import run_scenario
    from agentmarket.scenarios import apply_overrides, validate

    raw, draw, seed, ids = item
    params = validate(apply_overrides(raw, draw), origin=f"forecast run seed {seed}")
    values = model_values([run_scenario(params, seed)[1]], ids)
    return {k: float(v[0]) for k, v in values.items()}


def forecast_seed(seed: int, run: int) -> int:
    """The model seed of forecast run ``run``."""
    ss = np.random.SeedSequence(seed, spawn_key=(FORECAST_STREAM, run))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Hindcast:
    """A scored hindcast: one row per later fact, and the summary line."""

    cutoff: str
    scoreboard: pd.DataFrame
    summary: dict[str, Any]
    calibrated_on: list[str]


def run_hindcast(
    cutoff: str,
    scenario: str = "baseline",
    *,
    particles: int = 100,
    generations: int = 4,
    seeds: int = 3,
    developers: int | None = None,
    runs: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path = "runs/hindcast",
    seed: int = 0,
    progress=None,
) -> Hindcast:
    """Calibrate on the facts up to ``cutoff``, forecast the later ones, and score both forecasts."""
    from agentmarket.calibration.abc import INTERVAL, run_abc
    from agentmarket.calibration.calibrate import run_developers
    from agentmarket.calibration.posterior import Posterior
    from agentmarket.experiments.executor import open_executor
    from agentmarket.files import write_atomic
    from agentmarket.scenarios import apply_overrides, load_raw, validate

    known, later = split_facts(cutoff)
    developers = run_developers(scenario, developers)
    runs = runs or particles
    if runs < 2:
        raise InputError(f"--runs must be at least 2 to form an interval (got {runs})")
    out = Path(out)
    result = run_abc(
        scenario,
        particles=particles,
        generations=generations,
        seeds=seeds,
        developers=developers,
        workers=workers,
        scheduler=scheduler,
        out=out,
        seed=seed,
        facts=known,
        progress=progress,
    )
    posterior = Posterior(result.posterior)
    raw = load_raw(scenario)
    start = validate(raw).simulation.start
    months = month_index(max(fact_month(t) for t, _ in later)) - month_index(start) + 1
    raw = apply_overrides(raw, {"simulation.months": months, "simulation.developer_agents": developers})
    ids = tuple(t.id for t, _ in later)
    items = []
    for r in range(runs):
        s = forecast_seed(seed, r)
        items.append((raw, posterior.draw(s), s, ids))
    with open_executor(workers, scheduler) as ex:
        values = ex.map(forecast_item, items)
    forecasts = pd.DataFrame(values)
    forecasts.insert(0, "seed", [it[2] for it in items])
    write_atomic(out / FORECASTS_FILE, lambda tmp: forecasts.to_parquet(tmp, index=False))
    targets = load_targets()
    lo_q, hi_q = (1 - INTERVAL) / 2, 1 - (1 - INTERVAL) / 2
    rows = []
    for t, _tol in later:
        v = forecasts[t.id].to_numpy(float)
        v = v[np.isfinite(v)]
        low, high = (float(np.quantile(v, lo_q)), float(np.quantile(v, hi_q))) if v.size else (math.nan, math.nan)
        y = float(t.value)
        score = interval_score(low, high, y) / abs(y) if v.size else math.nan
        bench = naive_forecast(t, cutoff, targets)
        bench_score = interval_score(bench, bench, y) / abs(y) if bench is not None else math.nan
        rows.append(
            {
                "id": t.id,
                "date": fact_month(t),
                "quantity": MODEL_VALUES[t.id][0],
                "unit": t.unit,
                "fact": y,
                "low": low,
                "high": high,
                "inside": bool(v.size and low <= y <= high),
                "score": score,
                "benchmark": math.nan if bench is None else bench,
                "benchmark_inside": bench is not None and bench == y,
                "benchmark_score": bench_score,
            }
        )
    board = pd.DataFrame(rows)
    write_atomic(out / SCOREBOARD_FILE, lambda tmp: board.to_csv(tmp, index=False))
    has_bench = board["benchmark_score"].notna()
    summary = {
        "n_facts": len(board),
        "coverage": round(float(board["inside"].mean()), 4),
        "score": round(float(board["score"].mean()), 4),
        "benchmark_score": round(float(board.loc[has_bench, "benchmark_score"].mean()), 4) if has_bench.any() else None,
        "benchmark_n_facts": int(has_bench.sum()),
        "score_on_benchmark_facts": round(float(board.loc[has_bench, "score"].mean()), 4) if has_bench.any() else None,
        "cutoff": cutoff,
    }
    return Hindcast(cutoff, board, summary, [t.id for t, _ in known])


def json_line(h: Hindcast) -> str:
    """The summary as one JSON line."""
    return json.dumps(h.summary, sort_keys=False)
