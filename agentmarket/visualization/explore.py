"""Finished results folders read for the dashboard's "Explore results" view.

A folder written by ``agentmarket sweep`` or ``agentmarket batch`` (it holds ``sweep.json``)
or by ``agentmarket compare`` (it holds ``compare.csv``) is read into plain tables and fan
rows, so the page can draw them without touching the files again:

* fan rows: for each kept output, the median and 5-95% band over runs, month by month: one
  series per scenario for a comparison; for a sweep, one for all runs and one for each of a
  few design points spread over the outcome;
* the sweep's sensitivity indices (Sobol or Morris designs), as ``agentmarket report`` computes them;
* the scenario-discovery boxes (``discovery/boxes.csv``) once ``agentmarket discover`` has run.

Nothing is written into the folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from agentmarket.errors import InputError

MAX_FANS = 12
"""Fan charts shown at most; a folder that keeps more outputs shows the first ones in name order."""
ALL_RUNS = "all runs"
BOXES_FILE = Path("discovery") / "boxes.csv"


@dataclass
class Explored:
    """What the page shows of one results folder."""

    folder: Path
    kind: str
    """"sweep", "batch" or "compare"."""
    facts: pd.DataFrame
    fans: dict[str, list[dict]] = field(default_factory=dict)
    """Output name -> rows (date, series, lo, median, hi) of its fan chart."""
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    boxes: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def _band(frame: pd.DataFrame, series: str) -> list[dict]:
    """Median and 5-95% band over the runs in ``frame`` (columns date, value), by month."""
    grouped = frame.groupby("date", sort=True)["value"]
    table = pd.DataFrame(
        {"lo": grouped.quantile(0.05), "median": grouped.median(), "hi": grouped.quantile(0.95)}
    ).reset_index()
    return [
        {"date": f"{pd.Timestamp(d):%Y-%m}-01", "series": series, "lo": lo, "median": med, "hi": hi}
        for d, lo, med, hi in table[["date", "lo", "median", "hi"]].itertuples(index=False)
    ]


def read_boxes(folder: Path) -> pd.DataFrame | None:
    """The PRIM boxes of ``agentmarket discover``, when the folder has them."""
    path = folder / BOXES_FILE
    return pd.read_csv(path) if path.is_file() else None


def open_compare(folder: Path) -> Explored:
    """A comparison folder: one fan per output, one series per scenario."""
    summary = pd.read_csv(folder / "compare.csv")
    summary["output"] = summary["entity"] + "." + summary["metric"]
    scenarios = list(dict.fromkeys(summary["scenario"]))
    facts = pd.DataFrame(
        {
            "": ["folder", "kind", "scenarios", "seeds"],
            "value": [str(folder), "compare", ", ".join(scenarios), str(int(summary["seeds"].max()))],
        }
    )
    explored = Explored(folder, "compare", facts)
    for output in sorted(summary["output"].unique())[:MAX_FANS]:
        sub = summary[summary["output"] == output]
        explored.fans[output] = [
            {"date": f"{str(d)[:7]}-01", "series": s, "lo": lo, "median": med, "hi": hi}
            for s, d, lo, med, hi in sub[["scenario", "date", "p05", "median", "p95"]].itertuples(index=False)
        ]
    explored.boxes = read_boxes(folder)
    return explored


def open_sweep(folder: Path) -> Explored:
    """A sweep or batch folder: fans over all runs and over a few design points, indices, boxes."""
    from agentmarket.experiments.report import (
        load_sweep_spec,
        pick_points,
        point_label,
        run_stats,
        sensitivity,
    )
    from agentmarket.experiments.spec import Keep
    from agentmarket.experiments.store import read_design, read_manifest, read_results

    spec, _doc = load_sweep_spec(folder)
    design = read_design(folder)
    manifest = read_manifest(folder)
    results = read_results(folder)
    kind = "batch" if not spec.parameters else "sweep"
    finished = int((manifest["status"] == "ok").sum()) if not manifest.empty else 0
    facts = pd.DataFrame(
        {
            "": ["folder", "kind", "scenario", "design", "design points", "finished runs"],
            "value": [str(folder), kind, spec.scenario, spec.design.kind.value, str(len(design)), str(finished)],
        }
    )
    explored = Explored(folder, kind, facts, boxes=read_boxes(folder))
    if results.empty:
        explored.notes.append("no run has finished yet")
        return explored
    if spec.outputs.keep == Keep.SERIES:
        results = results.assign(output=results["entity"] + "." + results["metric"])
        for output in sorted(results["output"].unique())[:MAX_FANS]:
            sub = results[results["output"] == output]
            rows = _band(sub, ALL_RUNS)
            if kind == "sweep":
                final = sub.sort_values("date").groupby(["point", "run_id"])["value"].last().groupby("point").median()
                for point in pick_points(final, n=4):
                    rows += _band(sub[sub["point"] == point], point_label(design, point))
            explored.fans[output] = rows
    else:
        explored.notes.append("fan charts need monthly series: the sweep kept summaries only")
    stats = run_stats(results, spec.outputs.keep)
    indices, notes = sensitivity(spec, design, stats)
    explored.sensitivity = indices.replace([np.inf, -np.inf], np.nan)
    explored.notes.extend(notes)
    return explored


def open_results(folder: str | Path) -> Explored:
    """Read a finished sweep, batch or compare folder, or raise one-line :class:`InputError`."""
    path = Path(str(folder).strip()).expanduser()
    if not str(folder).strip():
        raise InputError("give the folder of a sweep, batch or compare run")
    if not path.is_dir():
        raise InputError(f"{str(path)!r} is not a folder; give the --out folder of a sweep, batch or compare run")
    if (path / "sweep.json").is_file():
        return open_sweep(path)
    if (path / "compare.csv").is_file():
        return open_compare(path)
    raise InputError(f"{str(path)!r} holds no results: it has neither sweep.json (sweep, batch) nor compare.csv")
