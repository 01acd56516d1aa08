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


def summarise(series: pd.DataFrame) -> pd.DataFrame:
    """Per run, entity and metric: the final, mean, smallest and largest monthly value."""
    keys = [c for c in (*ID_COLUMNS, "entity", "metric") if c in series]
    grouped = series.sort_values("date", kind="stable").groupby(keys, sort=True, observed=True)["value"]
    stats = pd.concat(
        {"final": grouped.last(), "mean": grouped.mean(), "min": grouped.min(), "max": grouped.max()},
        names=["stat"],
    )
    return stats.reset_index()[[*keys, "stat", "value"]]


def model_level_rows(model, metrics: tuple[tuple[str, str], ...]) -> pd.DataFrame | None:
    """The kept rows straight from the model-level data, when no lab or cloud metric is kept.

    Equal to cutting the full tidy table (same rows, order and types), without building the
    per-agent part of it: this roughly halves the work after a small run.
    """
    from agentmarket.params import Layer, month_label

    layers = {layer.value for layer in Layer}
    if any(entity != "market" and entity not in layers for entity, _ in metrics):
        return None
    mv = model.datacollector.get_model_vars_dataframe()
    start = model.params.start_index
    dates = pd.to_datetime([month_label(start + i) + "-01" for i in range(len(mv))])
    frames = []
    for entity, metric in metrics:
        column = metric if entity == "market" else f"{entity}.{metric}"
        frames.append(
            pd.DataFrame({"date": dates, "entity": entity, "metric": metric, "value": mv[column].to_numpy(np.float64)})
        )
    rows = pd.concat(frames, ignore_index=True)
    return rows.sort_values(["date", "entity", "metric"], kind="stable").reset_index(drop=True)


def cut_tidy(tidy: pd.DataFrame, metrics: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """The full tidy table cut to the kept (entity, metric) pairs."""
    wanted = pd.MultiIndex.from_tuples(metrics, names=["entity", "metric"])
    mask = pd.MultiIndex.from_frame(tidy[["entity", "metric"]]).isin(wanted)
    return tidy.loc[mask].reset_index(drop=True)


def keep_rows(model, task: RunTask) -> pd.DataFrame:
    """The run's kept metrics, labelled with the run's identity (summarised if asked)."""
    from agentmarket.output import tidy

    rows = model_level_rows(model, task.metrics)
    if rows is None:
        rows = cut_tidy(tidy(model), task.metrics)
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
