"""Draw the hindcast of 2023-2026 against the public record (docs/img/hindcast.png).

Four panels over seeds of a scenario (median and 5-95% band): lab_a's gross margin by year,
the months each supply layer is on the minimum cut by year, the H100 rental price, and
lab_a's monthly revenue, each with the record's figures from targets.csv and
reference_figures.csv.

    .venv/bin/python scripts/hindcast_figure.py --seeds 10 --out docs/img/hindcast.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from agentmarket.calibration.validate import BINDING_TARGETS, LAYERS, binding_months, run_seeds
from agentmarket.output import pivot
from agentmarket.scenarios import load_scenario

YEARS = (2023, 2024, 2025, 2026)
MARGINS = {2024: -0.94, 2025: 0.40}
MARGIN_PLAN = {2025: 0.50}
RENT = {"2023-07": 8.0, "2024-10": 2.99, "2025-10": 1.70, "2026-03": 2.35}
REVENUE = {"2024-07": 381e6 / 12, "2025-07": 4.5e9 / 12, "2026-01": 750e6}
COLOURS = {"packaging": "tab:purple", "memory": "tab:blue", "power": "tab:orange", "grid": "tab:green"}


def yearly_margin(table: pd.DataFrame) -> pd.Series:
    """lab_a's gross margin by year: one less the year's inference cost over its revenue."""
    lab = pivot(table, "lab_a")
    by_year = lab.groupby(lab.index.year)
    return 1.0 - by_year["inference_cost"].sum() / by_year["revenue"].sum()


def band(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Median and 5-95% range across the columns (seeds) of ``frame``."""
    return frame.median(axis=1), frame.quantile(0.05, axis=1), frame.quantile(0.95, axis=1)


def draw(tables: list[pd.DataFrame], path: Path, title: str) -> Path:
    """The four-panel hindcast figure of ``tables`` (one per seed), written to ``path``."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ax = axes[0, 0]
    margins = pd.concat([yearly_margin(t) for t in tables], axis=1).loc[list(YEARS)]
    mid, lo, hi = band(margins)
    ax.fill_between(mid.index, lo, hi, alpha=0.25, color="tab:blue", label="model 5-95%")
    ax.plot(mid.index, mid, "o-", color="tab:blue", label="model median")
    ax.plot(list(MARGINS), list(MARGINS.values()), "ks", ms=9, label="record")
    ax.plot(list(MARGIN_PLAN), list(MARGIN_PLAN.values()), "k^", mfc="none", ms=9, label="lab's plan")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title="lab_a gross margin", xticks=list(YEARS), ylabel="fraction of revenue")
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    width = 0.2
    for k, layer in enumerate(LAYERS):
        months = np.array([[binding_months(t, y)[layer] for t in tables] for y in YEARS])
        ax.bar(np.array(YEARS) + (k - 1.5) * width, np.median(months, axis=1), width, color=COLOURS[layer], label=layer)
    for year, layer in BINDING_TARGETS.values():
        k = LAYERS.index(layer)
        ax.annotate("record", (year + (k - 1.5) * width, 12.2), ha="center", fontsize=7, color=COLOURS[layer])
    ax.set(title="months on the minimum cut (median over seeds)", xticks=list(YEARS), ylim=(0, 13), ylabel="months")
    ax.legend(fontsize=8, ncol=2)

    ax = axes[1, 0]
    rent = pd.concat([pivot(t, "market")["h100_rental_price"] for t in tables], axis=1)
    rent = rent[(rent.index.year >= YEARS[0]) & (rent.index.year <= YEARS[-1])]
    mid, lo, hi = band(rent)
    ax.fill_between(mid.index, lo, hi, alpha=0.25, color="tab:red")
    ax.plot(mid.index, mid, color="tab:red", label="model median, 5-95%")
    when = [pd.Timestamp(m + "-01") for m in RENT]
    ax.plot(when, list(RENT.values()), "ks", ms=8, label="rental index (secondary)")
    ax.set(title="H100 rental price", ylabel="USD per H100-hour")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    revenue = pd.concat([pivot(t, "lab_a")["revenue"] for t in tables], axis=1)
    revenue = revenue[(revenue.index.year >= YEARS[0]) & (revenue.index.year <= YEARS[-1])]
    mid, lo, hi = band(revenue)
    ax.fill_between(mid.index, lo, hi, alpha=0.25, color="tab:green")
    ax.plot(mid.index, mid, color="tab:green", label="model median, 5-95%")
    when = [pd.Timestamp(m + "-01") for m in REVENUE]
    ax.plot(when, list(REVENUE.values()), "ks", ms=8, label="record (annual / 12; Jan 2026)")
    ax.set(title="lab_a revenue", ylabel="USD per month", yscale="log")
    ax.legend(fontsize=8)

    for ax in axes[1]:
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("docs/img/hindcast.png"))
    args = parser.parse_args()
    params = load_scenario(args.scenario, {"simulation.months": 48})
    tables = run_seeds(params, range(args.seeds), workers=args.workers)
    title = f"{params.name}: hindcast 2023-2026 against the record ({args.seeds} seeds)"
    print(draw(tables, args.out, title))


if __name__ == "__main__":
    main()
