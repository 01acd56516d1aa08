"""Scenarios side by side: the same seeds run under each, summarised as medians and bands.

Every scenario runs with seeds ``0 .. N-1``, so that scenario differences are not seed noise
(common random numbers). The result is one table (per scenario, date, entity and metric: the
median, 5th and 95th percentiles and the mean over seeds) and one figure of the key series.
For 0/1 metrics such as a layer's ``binding`` flag the mean is the share of seeds in which the
layer binds that month, which is what the figure shows for the binding layer.

All scenarios are loaded and checked before any run starts, and the figure and table are
written to temporary names and moved into place only when both are complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agentmarket.errors import InputError
from agentmarket.experiments.executor import check_workers, open_executor
from agentmarket.files import write_all_atomic
from agentmarket.params import Layer, Params

SUMMARY_COLUMNS = ("scenario", "date", "entity", "metric", "median", "p05", "p95", "mean", "seeds")
FIGURE_NAME = "compare.png"
TABLE_NAME = "compare.csv"
DRAWS_NAME = "draws.csv"


@dataclass(frozen=True)
class Panel:
    """One panel of the figure: a metric of an entity, shown in ``unit`` after dividing by ``scale``."""

    entity: str
    metric: str
    title: str
    unit: str
    scale: float = 1.0
    statistic: str = "median"  # "median" with a 5-95% band, or "mean" (share of seeds for 0/1 flags)


KEY_PANELS: tuple[Panel, ...] = (
    Panel("market", "adoption_share", "Adoption", "share of developers"),
    Panel("market", "subscription_price", "Subscription price (market)", "USD / month"),
    Panel("lab_a", "price", "lab_a price (reference plan)", "USD / month"),
    Panel("lab_b", "price", "lab_b price (reference plan)", "USD / month"),
    Panel("lab_a", "revenue", "lab_a revenue", "USD bn / month", 1e9),
    Panel("lab_b", "revenue", "lab_b revenue", "USD bn / month", 1e9),
    Panel("lab_a", "gross_margin", "lab_a gross margin", "fraction of revenue"),
    Panel("lab_b", "gross_margin", "lab_b gross margin", "fraction of revenue"),
    Panel("market", "compute_price", "Compute price (spot)", "USD / accelerator-hour"),
    Panel("market", "memory_price", "Memory price", "USD per accelerator's HBM"),
    Panel("lab_b", "service_level", "lab_b service level", "share of demand served"),
    Panel("grid", "capacity", "Grid capacity", "GW deliverable", 1e3),
    *(
        Panel(layer.value, "binding", f"{layer.value.capitalize()} binds", "share of seeds", statistic="mean")
        for layer in Layer
    ),
)
"""The key series of a comparison, in the order they are drawn (four rows of four)."""

GROSS_MARGIN_FLOOR = -1.0
"""Lowest gross margin drawn: a lab with almost no revenue has a margin far below -100%."""


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare_scenarios` wrote: the figure, the table, and the summary itself."""

    figure: Path
    table: Path
    summary: pd.DataFrame


def label_for(name_or_path: str) -> str:
    """The short label of a scenario argument: a bundled name as it is, a file by its stem."""
    return Path(name_or_path).stem if name_or_path.endswith(".toml") or "/" in name_or_path else name_or_path


def load_all(
    names: Sequence[str], months: int | None = None, developers: int | None = None, sets: Sequence[str] = ()
) -> dict[str, Params]:
    """Every scenario's parameters by label, or :class:`InputError` before anything runs.

    ``months`` and ``developers`` override the horizon and the number of developer agents of
    every scenario alike, so that the scenarios stay comparable.
    """
    from agentmarket.scenarios import load_scenario

    if not names:
        raise InputError("compare: give at least one scenario name or .toml path")
    overrides = list(sets)
    if months is not None:
        overrides.append(f"simulation.months={months}")
    if developers is not None:
        overrides.append(f"simulation.developer_agents={developers}")
    loaded: dict[str, Params] = {}
    for name in names:
        label = label_for(name)
        if label in loaded:
            raise InputError(f"compare: scenario {label!r} is given twice; give each scenario once")
        loaded[label] = load_scenario(name, overrides)
    horizons = {(p.simulation.start, p.simulation.months) for p in loaded.values()}
    if len(horizons) > 1:
        raise InputError(
            f"compare: the scenarios cover different months {sorted(horizons)}; pass --months to align them"
        )
    return loaded


def check_counts(seeds: int, workers: int | None = None, scheduler: str | None = None) -> None:
    """Refuse fewer than one seed, fewer than one worker, or a malformed scheduler (:class:`InputError`)."""
    if seeds < 1:
        raise InputError(f"--seeds must be at least 1 (got {seeds})")
    check_workers(workers, scheduler)


def check_out_dir(out: str | os.PathLike) -> Path:
    """The output folder, or :class:`InputError` if it could not be created and written.

    Nothing is created here: the folder is made when the figure and table are written, so
    that a comparison refused or failed before then leaves no trace.
    """
    from agentmarket.output import refuse_file_as_folder

    path = Path(out)
    refuse_file_as_folder(path, "the figure and table")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"--out {str(path)!r} cannot be created: {str(probe)!r} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"--out {str(path)!r} cannot be written")
    return path


def make_out_dir(path: Path) -> Path:
    """Create the checked output folder and its parents, or :class:`InputError` if that fails."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {str(path)!r} cannot be created: {exc.strerror or exc}") from None
    return path


def run_one(job: tuple[str, Params, int]) -> pd.DataFrame:
    """One run's tidy table (date, entity, metric, value) tagged with its scenario and seed."""
    from agentmarket.output import run_scenario

    label, params, seed = job
    _model, table = run_scenario(params, seed)
    return table.assign(scenario=label, seed=seed)


def iter_runs(
    scenarios: dict[str, Params],
    seeds: int,
    workers: int | None = 1,
    scheduler: str | None = None,
    per_run: dict[tuple[str, int], Params] | None = None,
) -> Iterator[tuple[str, int, pd.DataFrame]]:
    """Yield (scenario, seed, table) for every scenario and seed ``0 .. seeds-1``, as each finishes.

    The runs go to :func:`~agentmarket.experiments.executor.open_executor` with ``workers``
    and ``scheduler``; each run is independent and seeded, so the results do not depend on
    where it ran. ``per_run`` gives a run its own parameters (posterior draws) in place of
    its scenario's.
    """
    per_run = per_run or {}
    jobs = [
        (label, per_run.get((label, seed), params), seed)
        for label, params in scenarios.items()
        for seed in range(seeds)
    ]
    with open_executor(workers, scheduler, runs=len(jobs)) as executor:
        for index, table in executor.as_completed(run_one, jobs):
            label, _params, seed = jobs[index]
            yield label, seed, table


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario, date, entity and metric: median, 5th and 95th percentile, mean and seed count.

    Values are in the units of the run table; a seed missing a row (an entity absent from a
    scenario) is left out of that row's statistics.
    """
    wide = runs.pivot_table(
        index=["scenario", "date", "entity", "metric"], columns="seed", values="value", aggfunc="first", sort=False
    )
    values = wide.to_numpy(dtype=float)
    seeds = np.sum(~np.isnan(values), axis=1)
    with np.errstate(all="ignore"):
        out = pd.DataFrame(
            {
                "median": np.nanmedian(values, axis=1),
                "p05": np.nanquantile(values, 0.05, axis=1),
                "p95": np.nanquantile(values, 0.95, axis=1),
                "mean": np.nanmean(values, axis=1),
                "seeds": seeds,
            },
            index=wide.index,
        ).reset_index()
    order = {label: i for i, label in enumerate(runs["scenario"].unique())}
    out["_order"] = out["scenario"].map(order)
    out = out.sort_values(["_order", "date", "entity", "metric"], kind="stable").drop(columns="_order")
    return out[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def plot_comparison(summary: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """Draw the key series of every scenario (median line, 5-95% band) to a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(summary["scenario"]))
    styles = scenario_styles(labels)
    fig, axes = plt.subplots(4, 4, figsize=(20, 15), sharex=True, layout="constrained")
    for ax, panel in zip(axes.flat, KEY_PANELS, strict=False):
        draw_panel(ax, summary, panel, labels, styles)
        ax.xaxis.set_major_locator(mdates.YearLocator(2 if summary["date"].nunique() > 72 else 1))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    for ax in axes.flat[len(KEY_PANELS) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=style["color"], lw=2.5) for style in styles.values()]
    seeds = int(summary["seeds"].max()) if len(summary) else 0
    note = (
        title or f"median over {seeds} seeds with 5-95% band; binding panels: share of seeds in which the layer binds"
    )
    fig.legend(
        handles,
        labels,
        loc="outside upper center",
        ncol=min(len(labels), 7),
        fontsize=13,
        frameon=False,
        title=note,
        title_fontsize=11,
    )
    fig.savefig(path, dpi=80, format="png")
    plt.close(fig)
    return Path(path)


def scenario_styles(labels: list[str]) -> dict[str, dict]:
    """Line styles by scenario: the first thin, black and on top; the others in colour.

    The first is the reference (usually the baseline); on top, it stays visible where another
    scenario follows it exactly.
    """
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    styles = {labels[0]: {"color": "black", "lw": 1.3, "zorder": 10}} if labels else {}
    for i, label in enumerate(labels[1:]):
        styles[label] = {"color": cmap(i), "lw": 2.4, "zorder": 5}
    return styles


def draw_panel(ax, summary: pd.DataFrame, panel: Panel, labels: list[str], styles: dict[str, dict]) -> None:
    """One panel: each scenario's median (or mean) line, with its 5-95% band for medians."""
    rows = summary[(summary["entity"] == panel.entity) & (summary["metric"] == panel.metric)]
    for label in labels:
        sub = rows[rows["scenario"] == label]
        if sub.empty:
            continue
        dates = pd.to_datetime(sub["date"])
        if panel.statistic == "mean":
            ax.plot(dates, sub["mean"], drawstyle="steps-mid", **styles[label])
            continue
        band = styles[label]["color"]
        ax.fill_between(dates, sub["p05"] / panel.scale, sub["p95"] / panel.scale, color=band, alpha=0.15, lw=0)
        ax.plot(dates, sub["median"] / panel.scale, **styles[label])
    ax.set_title(panel.title, fontsize=12)
    ax.set_ylabel(panel.unit, fontsize=10)
    ax.grid(alpha=0.3)
    if panel.statistic == "mean":
        ax.set_ylim(-0.05, 1.05)
    elif panel.metric == "gross_margin":
        low = rows["p05"].min() if len(rows) else 0.0
        ax.set_ylim(bottom=max(GROSS_MARGIN_FLOOR, low - 0.05))


def compare_scenarios(
    names: Sequence[str],
    seeds: int = 10,
    out: str | os.PathLike = "runs/compare",
    months: int | None = None,
    developers: int | None = None,
    sets: Sequence[str] = (),
    workers: int | None = 1,
    on_run_done: Callable[[str, int], None] | None = None,
    scheduler: str | None = None,
    posterior=None,
) -> Comparison:
    """Run ``names`` over seeds ``0 .. seeds-1``; write ``compare.png`` and ``compare.csv`` to ``out``.

    Bad input (an unknown scenario, fewer than one seed, an output folder that cannot be
    written, a bad ``workers`` or ``scheduler``) raises :class:`InputError` before the first
    run. ``workers`` and ``scheduler`` choose where the runs go (see
    :func:`~agentmarket.experiments.executor.open_executor`). ``on_run_done(scenario, seed)``
    is called after each run, for progress bars. With a ``posterior``, run seed ``s`` of every
    scenario draws the same free parameters from it, and ``draws.csv`` records them by seed.
    """
    check_counts(seeds, workers, scheduler)
    scenarios = load_all(names, months, developers, sets)
    per_run = posterior_runs(names, seeds, months, developers, sets, posterior) if posterior is not None else None
    folder = check_out_dir(out)
    tables = []
    for label, seed, table in iter_runs(scenarios, seeds, workers, scheduler, per_run):
        tables.append(table)
        if on_run_done is not None:
            on_run_done(label, seed)
    runs = pd.concat(tables, ignore_index=True)
    runs["scenario"] = pd.Categorical(runs["scenario"], categories=list(scenarios))
    runs = runs.sort_values(["scenario", "seed"], kind="stable")
    runs["scenario"] = runs["scenario"].astype(str)
    summary = summarise(runs)
    figure, table = folder / FIGURE_NAME, folder / TABLE_NAME
    writers = {
        figure: lambda tmp: plot_comparison(summary, tmp),
        table: lambda tmp: summary.to_csv(tmp, index=False, date_format="%Y-%m-%d"),
    }
    if posterior is not None:
        from agentmarket.calibration.posterior import draws_table

        draws = draws_table(posterior, list(range(seeds)))
        writers[folder / DRAWS_NAME] = lambda tmp: draws.to_csv(tmp, index=False)
    make_out_dir(folder)
    write_all_atomic(writers)
    return Comparison(figure, table, summary)


def posterior_runs(
    names: Sequence[str], seeds: int, months: int | None, developers: int | None, sets: Sequence[str], posterior
) -> dict[tuple[str, int], Params]:
    """Each scenario's parameters for each run seed, its free parameters drawn from ``posterior``."""
    from agentmarket.calibration.posterior import posterior_jobs

    overrides = list(sets)
    if months is not None:
        overrides.append(f"simulation.months={months}")
    if developers is not None:
        overrides.append(f"simulation.developer_agents={developers}")
    per_run = {}
    for name in names:
        for params, seed in posterior_jobs(name, overrides, posterior, list(range(seeds))):
            per_run[(label_for(name), seed)] = params
    return per_run
