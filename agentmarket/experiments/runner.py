"""One run of a sweep, as shipped to a worker: build the parameters, run, keep what was asked.

Everything here must pickle (Dask sends it to other processes and machines): plain
dataclasses and module-level functions only. A run that raises does not stop the sweep; it
comes back as a failed :class:`RunResult` carrying the error text.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from agentmarket.experiments.design import Run
from agentmarket.experiments.spec import Keep

ID_COLUMNS = ("run_id", "point", "replicate")


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run: the scenario dictionary and the point's overrides.

    ``raw`` is the scenario with the sweep's fixed overrides applied; ``metrics`` are the
    (entity, metric) pairs to keep.
    """

    run: Run
    raw: dict[str, Any]
    overrides: dict[str, Any]
    metrics: tuple[tuple[str, str], ...]
    keep: Keep


def worker_name() -> str:
    """Where a run ran: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunResult:
    """A finished run: its kept table (``None`` if it failed), runtime in seconds, and where it ran."""

    run: Run
    status: str
    runtime_s: float
    scenario_hash: str = ""
    error: str = ""
    worker: str = field(default_factory=worker_name)
    table: pd.DataFrame | None = None


def fractional_year(dates: pd.Series) -> pd.Series:
    """A month as a fractional year: 2026-01 is 2026.0, 2026-07 is 2026.5."""
    dates = pd.to_datetime(dates)
    return dates.dt.year + (dates.dt.month - 1) / 12.0


def summarise(series: pd.DataFrame) -> pd.DataFrame:
    """Per run, entity and metric, the statistics of its monthly values (see :data:`SUMMARY_STATS`).

    Over the whole run: ``final``, ``mean``, ``min``, ``max``, ``sum`` (e.g. months bound, for a
    0/1 flag) and ``first``, the first month the value is non-zero as a fractional year (NaN
    when never). Per calendar year YYYY: ``months_YYYY``, the months non-zero that year, and
    ``mean_YYYY``, the mean of that year's months (only of the months the run covers).
    """
    keys = [c for c in (*ID_COLUMNS, "entity", "metric") if c in series]
    ordered = series.sort_values("date", kind="stable")
    grouped = ordered.groupby(keys, sort=True, observed=True)["value"]
    nonzero = ordered[ordered["value"].fillna(0.0) != 0.0]
    first = fractional_year(nonzero.groupby(keys, sort=True, observed=True)["date"].first())
    whole = pd.concat(
        {
            "final": grouped.last(),
            "mean": grouped.mean(),
            "min": grouped.min(),
            "max": grouped.max(),
            "sum": grouped.sum(),
            "first": first.reindex(grouped.last().index).astype(np.float64),
        },
        names=["stat"],
    )
    whole = whole.rename("value").reset_index()
    flagged = ordered.assign(
        year=pd.to_datetime(ordered["date"]).dt.year, nonzero=(ordered["value"].fillna(0.0) != 0.0).astype(np.float64)
    )
    by_year = flagged.groupby([*keys, "year"], sort=True, observed=True)
    yearly = pd.concat(
        [by_year["nonzero"].sum().rename("months"), by_year["value"].mean().rename("mean")], axis=1
    ).reset_index()
    yearly = yearly.melt(id_vars=[*keys, "year"], var_name="stat", value_name="value")
    yearly["stat"] = yearly["stat"] + "_" + yearly["year"].astype(str)
    yearly = yearly.sort_values(["stat", *keys], kind="stable")
    out = pd.concat([whole, yearly[[*keys, "stat", "value"]]], ignore_index=True)
    out["value"] = out["value"].astype(np.float64)
    return out[[*keys, "stat", "value"]]


def kept_rows(model, metrics: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """The kept rows straight from the collected data, without building the whole tidy table.

    Equal to cutting the full tidy table (same rows, order and types): market and layer
    metrics from the model-level data, lab and cloud metrics from their agent records. A
    small run's tidy table (every metric of every entity, melted) costs about as much as
    the run itself; this costs a few of its columns.
    """
    from agentmarket.agents.clouds import CloudAgent
    from agentmarket.agents.labs import LabAgent
    from agentmarket.params import Layer, month_label

    layers = {layer.value for layer in Layer}
    dc = model.datacollector
    start = model.params.start_index
    mv = dc.get_model_vars_dataframe()
    dates = pd.to_datetime([month_label(start + i) + "-01" for i in range(len(mv))])
    agent_types = {**dict.fromkeys(model.params.labs, LabAgent), **dict.fromkeys(model.params.clouds, CloudAgent)}
    records: dict[type, pd.DataFrame] = {}
    frames = []
    for entity, metric in metrics:
        if entity == "market" or entity in layers:
            column = metric if entity == "market" else f"{entity}.{metric}"
            when, values = dates, mv[column].to_numpy(np.float64)
        else:
            agent_type = agent_types[entity]
            if agent_type not in records:
                records[agent_type] = dc.get_agenttype_vars_dataframe(agent_type).reset_index()
            table = records[agent_type]
            mine = table[table["entity"] == entity]
            step = mine["Step"] if "Step" in mine else mine["Time"]
            when = pd.to_datetime([month_label(start + int(s) - 1) + "-01" for s in step])
            values = mine[metric].to_numpy(np.float64)
        frames.append(pd.DataFrame({"date": when, "entity": entity, "metric": metric, "value": values}))
    rows = pd.concat(frames, ignore_index=True)
    return rows.sort_values(["date", "entity", "metric"], kind="stable").reset_index(drop=True)


def cut_tidy(tidy: pd.DataFrame, metrics: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """The full tidy table cut to the kept (entity, metric) pairs."""
    wanted = pd.MultiIndex.from_tuples(metrics, names=["entity", "metric"])
    mask = pd.MultiIndex.from_frame(tidy[["entity", "metric"]]).isin(wanted)
    return tidy.loc[mask].reset_index(drop=True)


def keep_rows(model, task: RunTask) -> pd.DataFrame:
    """The run's kept metrics, labelled with the run's identity (summarised if asked)."""
    rows = kept_rows(model, task.metrics)
    rows.insert(0, "replicate", task.run.replicate)
    rows.insert(0, "point", task.run.point)
    rows.insert(0, "run_id", task.run.run_id)
    if task.keep == Keep.SUMMARY:
        return summarise(rows)
    return rows


def one_line(exc: BaseException) -> str:
    """An exception as one line: type, message, and the innermost place it was raised."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}{where}"


def execute_run(task: RunTask) -> RunResult:
    """Run one design point with one seed; never raises for a failure of the model itself."""
    from agentmarket.model import MarketModel
    from agentmarket.scenarios import apply_overrides, scenario_hash, validate

    start = time.perf_counter()
    digest = ""
    try:
        params = validate(apply_overrides(task.raw, task.overrides), origin=f"run {task.run.run_id}")
        digest = scenario_hash(params)
        model = MarketModel(params, rng=task.run.seed).run()
        table = keep_rows(model, task)
    except Exception as exc:
        return RunResult(task.run, "failed", time.perf_counter() - start, digest, error=one_line(exc))
    return RunResult(task.run, "ok", time.perf_counter() - start, digest, table=table)
