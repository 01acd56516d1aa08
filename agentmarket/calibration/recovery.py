"""Parameter recovery: targets made by the model at known parameter values, calibrated back.

The truth is the scenario's own values of the chosen free parameters. The synthetic record
is the mean over ``truth_seeds`` runs at the truth of every held fact's model quantity, with
the facts' real tolerances; the other parameters stay at the scenario's values. A working
calibration puts the truth inside the 90% posterior interval of most parameters, and narrows
the prior where the facts carry information.

Run from the command line (``python -m agentmarket.calibration.recovery --help``) for a
larger budget than the test's.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agentmarket.calibration.abc import INTERVAL, credible_intervals, prior_space, run_abc
from agentmarket.calibration.validate import Target, held_facts, model_values

TRUTH_STREAM = 17


@dataclass(frozen=True)
class Recovery:
    """The truth, each parameter's posterior interval, and the share of intervals that hold it."""

    table: pd.DataFrame
    share_inside: float
    narrowed: int
    evaluations: int


def current_values(scenario: str, keys: list[str]) -> dict[str, Any]:
    """The scenario's values of ``keys``."""
    from agentmarket.scenarios import load_scenario

    params = load_scenario(scenario)
    out = {}
    for key in keys:
        node: Any = params
        for part in key.split("."):
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        out[key] = node
    return out


def synthetic_facts(
    scenario: str, facts: list[tuple[Target, float]], developers: int, truth_seeds: int, seed: int = 0
) -> list[tuple[Target, float]]:
    """The facts with their values replaced by the model's at the scenario's own parameters."""
    from agentmarket.calibration.abc import months_until
    from agentmarket.calibration.validate import fact_month, run_seeds
    from agentmarket.scenarios import apply_overrides, load_raw, validate

    raw = load_raw(scenario)
    months = months_until(raw, max(fact_month(t) for t, _ in facts))
    params = validate(apply_overrides(raw, {"simulation.months": months, "simulation.developer_agents": developers}))
    ss = np.random.SeedSequence(seed, spawn_key=(TRUTH_STREAM,))
    seeds = [int(s) for s in ss.generate_state(truth_seeds, np.uint32)]
    values = model_values(run_seeds(params, seeds, workers=1), [t.id for t, _ in facts])
    out = []
    for t, tol in facts:
        v = float(np.mean(values[t.id]))
        out.append((replace(t, value=v, text=f"{v:.6g}"), tol))
    return out


def recover(
    keys: list[str],
    *,
    scenario: str = "baseline",
    until: str | None = None,
    particles: int = 40,
    generations: int = 3,
    seeds: int = 1,
    developers: int = 1000,
    truth_seeds: int = 4,
    workers: int | None = None,
    out: str | Path = "runs/recovery",
    seed: int = 0,
) -> Recovery:
    """Calibrate ``keys`` back to synthetic facts (those dated up to ``until``, default all)."""
    space = prior_space(keys)
    truth = current_values(scenario, keys)
    facts = synthetic_facts(scenario, held_facts(until=until), developers, truth_seeds, seed)
    result = run_abc(
        scenario,
        particles=particles,
        generations=generations,
        seeds=seeds,
        developers=developers,
        workers=workers,
        out=out,
        seed=seed,
        facts=facts,
        keys=keys,
    )
    table = credible_intervals(result.posterior).set_index("parameter")
    rows = []
    narrowed = 0
    for p in space.parameters:
        r = table.loc[p.key]
        lo, hi = space.prior_interval(p)
        to = np.log10 if p.prior == "log-uniform" else (lambda x: x)
        width = (to(r["high"]) - to(r["low"])) / (to(hi) - to(lo))
        narrowed += bool(width < 0.8)
        rows.append(
            {
                "parameter": p.key,
                "truth": truth[p.key],
                "median": r["median"],
                "low": r["low"],
                "high": r["high"],
                "inside": bool(r["low"] <= truth[p.key] <= r["high"]),
                "width_vs_prior": float(width),
            }
        )
    frame = pd.DataFrame(rows)
    return Recovery(frame, float(frame["inside"].mean()), narrowed, result.evaluations)


def main(argv: list[str] | None = None) -> int:
    """Run a recovery check and print its table and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", default="adoption.innovation,adoption.imitation,labs.lab_a.api_price_multiple")
    parser.add_argument("--until", default=None, help="use the facts dated up to this month (YYYY-MM)")
    parser.add_argument("--particles", type=int, default=40)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--developers", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", default="runs/recovery")
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args(argv)
    r = recover(
        a.keys.split(","),
        until=a.until,
        particles=a.particles,
        generations=a.generations,
        seeds=a.seeds,
        developers=a.developers,
        workers=a.workers,
        out=a.out,
        seed=a.seed,
    )
    print(r.table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(
        json.dumps(
            {
                "parameters": len(r.table),
                "share_inside_90": round(r.share_inside, 3),
                "narrowed": r.narrowed,
                "evaluations": r.evaluations,
                "interval": INTERVAL,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
