"""The tidy results table and how it is written.

Every run's results are one long table with columns ``date`` (first day of the month),
``entity`` (``market``, a lab, a cloud, or a supply layer), ``metric`` and ``value``.
Each metric's unit is in the metric registry (:mod:`agentmarket.metrics`, :func:`with_units`)
and in docs/model.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from agentmarket.agents.clouds import CloudAgent
from agentmarket.agents.labs import LabAgent
from agentmarket.errors import InputError
from agentmarket.files import write_atomic
from agentmarket.metrics import unit_of
from agentmarket.model import CLOUD_METRICS, LAB_METRICS, MARKET_METRICS, MarketModel
from agentmarket.params import Layer, Params, month_label


def entity_kinds(params: Params) -> dict[str, str]:
    """Each entity of a scenario's table and its kind in the metric registry (market, lab, cloud, layer)."""
    kinds = {"market": "market"}
    kinds.update(dict.fromkeys(params.labs, "lab"))
    kinds.update(dict.fromkeys(params.clouds, "cloud"))
    kinds.update({layer.value: "layer" for layer in Layer})
    return kinds


def with_units(table: pd.DataFrame, params: Params) -> pd.DataFrame:
    """``table`` with a ``unit`` column, read from the metric registry."""
    kinds = entity_kinds(params)
    units = {
        (e, m): unit_of(kinds[e], m) for e, m in table[["entity", "metric"]].drop_duplicates().itertuples(index=False)
    }
    return table.assign(unit=[units[(e, m)] for e, m in zip(table["entity"], table["metric"], strict=True)])


def tidy(model: MarketModel) -> pd.DataFrame:
    """The model's collected data as a tidy table: date, entity, metric, value."""
    dc = model.datacollector
    if dc is None:
        raise ValueError("this model collected no data (simulation.collect_data is false)")
    start = model.params.start_index
    frames = []
    mv = dc.get_model_vars_dataframe()
    dates = [pd.Timestamp(month_label(start + i) + "-01") for i in range(len(mv))]
    market_cols = [c for c in MARKET_METRICS if c in mv]
    m = mv[market_cols].astype(float)
    m.insert(0, "date", dates)
    frames.append(m.melt(id_vars="date", var_name="metric").assign(entity="market"))
    for layer in Layer:
        cols = [c for c in mv.columns if c.startswith(layer.value + ".")]
        sub = mv[cols].astype(float).rename(columns=lambda c: c.split(".", 1)[1])
        sub.insert(0, "date", dates)
        frames.append(sub.melt(id_vars="date", var_name="metric").assign(entity=layer.value))
    for agent_type, metrics in ((LabAgent, LAB_METRICS), (CloudAgent, CLOUD_METRICS)):
        df = dc.get_agenttype_vars_dataframe(agent_type)
        if df.empty:
            continue
        df = df.reset_index()
        step = df["Step"] if "Step" in df else df["Time"]
        df["date"] = [pd.Timestamp(month_label(start + int(s) - 1) + "-01") for s in step]
        long = df[["date", "entity", *metrics]].melt(id_vars=["date", "entity"], var_name="metric")
        long["value"] = long["value"].astype(float)
        frames.append(long)
    out = pd.concat(frames, ignore_index=True)[["date", "entity", "metric", "value"]]
    out["value"] = out["value"].astype(np.float64)
    return out.sort_values(["date", "entity", "metric"], kind="stable").reset_index(drop=True)


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done."""
    out = Path(path)
    if out.suffix not in (".parquet", ".csv"):
        raise InputError(f"--out {str(out)!r}: the file must end in .parquet or .csv")
    if out.exists() and not overwrite:
        raise InputError(f"--out {str(out)!r} already exists; pass --overwrite to replace it or choose another file")
    if out.exists() and out.is_dir():
        raise InputError(f"--out {str(out)!r} is a directory; give a file ending in .parquet or .csv")
    check_writable_folder(out, out.parent if str(out.parent) else Path("."))
    return out


def refuse_file_as_folder(out: Path, purpose: str) -> None:
    """Refuse ``--out`` when it names a file where a folder for ``purpose`` is wanted."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file; give a folder for {purpose}")


def refuse_foreign_folder(out: Path, holds: str) -> None:
    """Refuse ``--out`` when it is a folder with files in it that are not a ``holds`` of ours."""
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"--out {str(out)!r} is not empty and holds no {holds}; choose a new or empty folder")


def check_writable_folder(out: Path, folder: Path) -> None:
    """Refuse ``--out`` when ``folder`` (or the nearest existing folder above it) cannot be written."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"--out {str(out)!r}: the folder {str(folder)!r} cannot be written")


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``table`` to ``path`` (.parquet or .csv) atomically: whole, or not at all."""
    out = Path(path)

    def write(tmp: Path) -> None:
        if out.suffix == ".csv":
            table.to_csv(tmp, index=False, date_format="%Y-%m-%d")
        else:
            table.to_parquet(tmp, index=False)

    return write_atomic(out, write)


def run_scenario(params, seed: int | None = 0) -> tuple[MarketModel, pd.DataFrame]:
    """Build and run a model to its end; return it and its tidy table."""
    model = MarketModel(params, rng=seed)
    model.run()
    return model, tidy(model)


def pivot(table: pd.DataFrame, entity: str) -> pd.DataFrame:
    """One entity's metrics as columns, indexed by date."""
    sub = table[table["entity"] == entity]
    return sub.pivot(index="date", columns="metric", values="value")


def summary_rows(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """A line per year of the table's headline figures.

    Adoption and agent work at year end, lab_a's revenue and gross margin over the year, the
    year-end compute price, and the layers that bound, with their months.
    """
    market = pivot(table, "market")
    labs = table.loc[table["metric"] == "revenue", "entity"].unique()
    lab = pivot(table, "lab_a" if "lab_a" in labs else labs[0])
    layers = {layer.value: pivot(table, layer.value)["binding"] for layer in Layer}
    rows = []
    for year, idx in market.groupby(market.index.year).groups.items():
        end = idx.max()
        rev = lab.loc[idx, "revenue"].sum()
        cost = lab.loc[idx, "inference_cost"].sum()
        margin = f"{1 - cost / rev:.0%}" if rev > 0 else "-"
        bound = [f"{name} {int(flags.loc[idx].sum())}m" for name, flags in layers.items() if flags.loc[idx].sum() > 0]
        rows.append(
            (
                str(year),
                f"{market.loc[end, 'adoption_share']:.1%}",
                f"{market.loc[end, 'agent_work_share']:.1%}",
                f"{rev / 1e9:,.2f} bn",
                margin,
                f"{market.loc[end, 'compute_price']:.2f}",
                ", ".join(bound) or "none",
            )
        )
    return rows
