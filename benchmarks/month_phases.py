"""Where a month's time goes: CPU microseconds per month of each phase of ``step()``, per developer count.

Runs the baseline scenario (data collection on) ``--runs`` times per size for ``--months``
months, each phase of :meth:`~agentmarket.model.MarketModel.step` and the data collection
wrapped with the bench's timer (:func:`agentmarket.bench.add_timer`, CPU time, a microsecond
or so per call), after one untimed run that warms the process. Prints one row per size: each
phase's microseconds per month, their sum, and the month's total. The developer phase holds
the developers' array work and the labs' booking; the bench's ``supply_phase_ms`` is the sum
of the phases less the developers' methods. With ``--flush-mb N`` every month's developer
step is followed by a write to every cache line of N MB of memory (its time falls in the
developer phase): it shows how the other phases fare when the caches no longer hold them, as
after the developers' month at large counts. Not a test: the figures depend on the machine
and its load.

    .venv/bin/python benchmarks/month_phases.py                          # 2,000 and 100,000 developers
    .venv/bin/python benchmarks/month_phases.py --sizes 100,2000 --runs 40
    .venv/bin/python benchmarks/month_phases.py --sizes 2000 --flush-mb 64
"""

from __future__ import annotations

import argparse

import numpy as np

from agentmarket.bench import SUPPLY_PHASES, add_timer, baseline_params, count_at_least, parse_sizes, us_per_month
from agentmarket.errors import InputError
from agentmarket.model import MarketModel

COLUMNS = (*SUPPLY_PHASES, "collect")


def flush_after_step(model: MarketModel, memory: np.ndarray) -> None:
    """Make the developers' step read and write all of ``memory`` after it, pushing the rest of the month out of the caches."""
    step = model.developers.step

    def step_then_flush(offer):
        out = step(offer)
        memory[::8] += 1.0  # a write to every cache line
        return out

    model.developers.step = step_then_flush


def phase_times(n: int, months: int, runs: int, seed: int = 0, flush_mb: int = 0) -> dict[str, float]:
    """Mean CPU microseconds per month of each phase (and ``collect``, ``sum``, ``month``) at ``n`` developers."""
    memory = np.zeros(flush_mb * 1_000_000 // 8) if flush_mb > 0 else None

    def install(model: MarketModel, totals: dict[str, float]) -> None:
        for name in SUPPLY_PHASES:
            add_timer(model, name, totals, name)
        add_timer(model.datacollector, "collect", totals, "collect")
        if memory is not None:
            flush_after_step(model, memory)

    times, month = us_per_month(n, months, runs, install, seed)
    out = {name: times[name] for name in COLUMNS}
    out["sum"] = sum(out.values())
    out["month"] = month
    return out


def main() -> None:
    """Parse the sizes, time each, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,100000", help="comma-separated developer agent counts")
    parser.add_argument("--months", type=count_at_least(1), default=24)
    parser.add_argument("--runs", type=count_at_least(1), default=10, help="timed runs per size")
    parser.add_argument(
        "--flush-mb", type=count_at_least(0), default=0, help="MB walked after each developer step (0: none)"
    )
    args = parser.parse_args()
    try:
        sizes = parse_sizes(args.sizes)
        for n in sizes:
            baseline_params(n, args.months)  # the scenario's own bounds, checked before any run
    except InputError as error:
        parser.error(str(error))  # one line and exit status 2
    header = ["agents", *COLUMNS, "sum", "month"]
    print(" | ".join(header))
    for n in sizes:
        row = phase_times(n, args.months, args.runs, flush_mb=args.flush_mb)
        print(" | ".join([f"{n:,}", *(f"{row[c]:.0f}" for c in header[1:])]))


if __name__ == "__main__":
    main()
