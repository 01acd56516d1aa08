"""How much slower a month's routine runs inside the month than in a loop: the cost of cold caches.

For a few model routines that run once a month and can be repeated on a month's state
without changing it (``observe_market``, ``make_offer``, ``clear_market``,
``_update_layer_stats``), prints the CPU microseconds of one call inside the month (the
routine wrapped with the bench's timer, :func:`agentmarket.bench.add_timer`, over ``--runs``
baseline runs of ``--months`` months) beside one call repeated ``--calls`` times in a loop on
the state the model has after ``--months`` months, when its code and objects stay in the
caches. The ratio tells how much of the month is spent fetching them. Not a test: the figures
depend on the machine and its load.

    .venv/bin/python benchmarks/cold_routines.py
    .venv/bin/python benchmarks/cold_routines.py --developers 100000 --runs 2
"""

from __future__ import annotations

import argparse

from agentmarket.bench import add_timer, baseline_params, clock, count_at_least, us_per_month
from agentmarket.errors import InputError
from agentmarket.model import MarketModel

ROUTINES = ("observe_market", "make_offer", "clear_market", "_update_layer_stats")


def time_routines(model: MarketModel, totals: dict[str, float]) -> None:
    """Wrap each of :data:`ROUTINES` with the bench's timer."""
    for name in ROUTINES:
        add_timer(model, name, totals, name)


def in_month_us(n: int, months: int, runs: int) -> dict[str, float]:
    """Mean CPU microseconds of each routine's call inside the month (each runs once a month)."""
    return us_per_month(n, months, runs, time_routines)[0]


def in_loop_us(n: int, months: int, calls: int) -> dict[str, float]:
    """Mean CPU microseconds of each routine called ``calls`` times in a row on one month's state."""
    model = MarketModel(baseline_params(n, months), rng=0).run()
    out = {}
    for name in ROUTINES:
        routine = getattr(model, name)
        routine()
        start = clock()
        for _ in range(calls):
            routine()
        out[name] = (clock() - start) * 1e6 / calls
    return out


def main() -> None:
    """Time each routine both ways and print one row per routine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--developers", type=count_at_least(1), default=2000, help="developer agents")
    parser.add_argument("--months", type=count_at_least(1), default=24)
    parser.add_argument("--runs", type=count_at_least(1), default=10, help="timed runs for the in-month figures")
    parser.add_argument("--calls", type=count_at_least(1), default=5000, help="calls in a row for the in-loop figures")
    args = parser.parse_args()
    try:
        baseline_params(args.developers, args.months)  # the scenario's own bounds, checked before any run
    except InputError as error:
        parser.error(str(error))  # one line and exit status 2
    month = in_month_us(args.developers, args.months, args.runs)
    loop = in_loop_us(args.developers, args.months, args.calls)
    print("routine | in the month us | in a loop us | ratio")
    for name in ROUTINES:
        print(f"{name} | {month[name]:.1f} | {loop[name]:.1f} | {month[name] / loop[name]:.1f}")


if __name__ == "__main__":
    main()
