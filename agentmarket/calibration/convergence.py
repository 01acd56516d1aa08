"""Convergence in agent count: market outputs at several developer-agent counts.

One developer agent stands for ``population / agents`` real developers. The weight is a
safe knob when market-level outputs at different agent counts agree within their
seed-to-seed spread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from agentmarket.calibration.validate import run_table
from agentmarket.experiments.executor import open_executor
from agentmarket.output import pivot
from agentmarket.scenarios import load_scenario

OUTPUTS: dict[str, tuple[str, str, str]] = {
    "adoption share, 2026-12": ("market", "adoption_share", "2026-12"),
    "agent work share, 2026-12": ("market", "agent_work_share", "2026-12"),
    "lab_a revenue, 2026-12 (USD/month)": ("lab_a", "revenue", "2026-12"),
    "compute price, 2026-12 (USD/acc-hour)": ("market", "compute_price", "2026-12"),
    "lab_a gross margin, 2024-12": ("lab_a", "gross_margin", "2024-12"),
}


def outputs_of(table: pd.DataFrame) -> dict[str, float]:
    """The convergence outputs of one run's tidy table, by name."""
    out = {}
    for name, (entity, metric, month) in OUTPUTS.items():
        out[name] = float(pivot(table, entity).loc[pd.Timestamp(month + "-01"), metric])
    return out


def convergence_table(
    sizes: tuple[int, ...] = (12500, 50000, 200000),
    seeds: int = 5,
    scenario: str = "baseline",
    months: int = 48,
    workers: int | None = 1,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """One row per (agent count, seed) with the market outputs of :data:`OUTPUTS`.

    Every (count, seed) run goes to one executor opened with ``workers`` and ``scheduler``
    (see :func:`~agentmarket.experiments.executor.open_executor`), largest counts first so
    that the longest runs do not start last.
    """
    jobs = []
    for n in sizes:
        params = load_scenario(scenario, {"simulation.developer_agents": n, "simulation.months": months})
        jobs.extend((n, seed, params) for seed in range(seeds))
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][0])
    with open_executor(workers, scheduler, runs=len(jobs)) as executor:
        tables = executor.map(run_table, [(jobs[i][2], jobs[i][1]) for i in order])
    by_job = dict(zip(order, tables, strict=True))
    rows = [{"agents": n, "seed": seed, **outputs_of(by_job[i])} for i, (n, seed, _params) in enumerate(jobs)]
    return pd.DataFrame(rows)


def agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Per output and agent count: mean, seed-to-seed spread and the gap to the largest count.

    The gap to the largest count's mean is in units of the pooled spread (|gap| <= 3 counts
    as agreeing).
    """
    largest = table["agents"].max()
    rows = []
    for name in OUTPUTS:
        ref = table.loc[table["agents"] == largest, name]
        for n, grp in table.groupby("agents"):
            spread = np.sqrt((grp[name].var(ddof=1) + ref.var(ddof=1)) / 2.0)
            gap = (grp[name].mean() - ref.mean()) / spread if spread > 0 else 0.0
            rows.append(
                {"output": name, "agents": n, "mean": grp[name].mean(), "sd": grp[name].std(ddof=1), "gap_in_sd": gap}
            )
    return pd.DataFrame(rows)


def plot_convergence(table: pd.DataFrame, path: str | Path) -> Path:
    """Each output's value per seed against the agent count, with the mean per count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(OUTPUTS), figsize=(4 * len(OUTPUTS), 3.4))
    for ax, name in zip(axes, OUTPUTS, strict=True):
        ax.scatter(table["agents"], table[name], s=12, alpha=0.6)
        means = table.groupby("agents")[name].mean()
        ax.plot(means.index, means.values, marker="o", color="black")
        ax.set_xscale("log")
        ax.set_xticks(list(means.index), [f"{n:,}" for n in means.index])
        ax.minorticks_off()
        ax.set_xlabel("developer agents")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
