"""The report of a sweep folder: summary statistics, fan charts, sensitivity indices, one HTML page.

Everything is read back from the folder (sweep.json, design, manifest, run files), so a
report can be made while a sweep is still running or after it was interrupted; it covers the
runs finished so far. Figures are PNG files drawn with matplotlib's Agg canvas.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from agentmarket.errors import InputError
from agentmarket.experiments.design import design_seed, problem
from agentmarket.experiments.runner import summarise
from agentmarket.experiments.spec import DesignKind, Keep, SweepSpec
from agentmarket.experiments.store import read_design, read_manifest, read_results, read_sweep
from agentmarket.files import write_atomic

REPORT_DIR = "report"
FAN_POINTS = 8  # design points drawn in one fan chart; more would hide each other
QUANTILES = (0.05, 0.5, 0.95)


@dataclass
class Report:
    """What a report wrote: the HTML page, the figures and the tables (all under ``folder``)."""

    folder: Path
    page: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_sweep_spec(out: Path) -> tuple[SweepSpec, dict[str, Any]]:
    """The spec a sweep folder was made with, and its sweep.json."""
    doc = read_sweep(out)
    if doc is None:
        raise InputError(f"{str(out)!r} holds no sweep (no sweep.json); give the --out folder of a sweep or batch")
    return SweepSpec.model_validate(doc["spec"]), doc


def output_name(entity: str, metric: str) -> str:
    """The column name of one entity's metric in run summaries: ``entity.metric``."""
    return f"{entity}.{metric}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def run_stats(results: pd.DataFrame, keep: Keep) -> pd.DataFrame:
    """Per run and output, every summary statistic (from the series if monthly values were kept)."""
    stats = summarise(results) if keep == Keep.SERIES else results
    stats = stats.assign(output=stats["entity"] + "." + stats["metric"])
    return stats[["run_id", "point", "replicate", "output", "stat", "value"]]


def summary_table(stats: pd.DataFrame, stat: str) -> pd.DataFrame:
    """Across all finished runs, each output's distribution of one statistic (e.g. its final value)."""
    sub = stats[stats["stat"] == stat]
    grouped = sub.groupby("output")["value"]
    table = pd.DataFrame(
        {
            "runs": grouped.size(),
            "mean": grouped.mean(),
            "sd": grouped.std(),
            "p5": grouped.quantile(0.05),
            "median": grouped.median(),
            "p95": grouped.quantile(0.95),
        }
    )
    return table.reset_index()


def point_table(stats: pd.DataFrame, design: pd.DataFrame, stat: str) -> pd.DataFrame:
    """Per design point and output: replicates, median and 5-95% range of one statistic."""
    sub = stats[stats["stat"] == stat]
    grouped = sub.groupby(["point", "output"])["value"]
    table = pd.DataFrame(
        {
            "replicates": grouped.size(),
            "p5": grouped.quantile(0.05),
            "median": grouped.median(),
            "p95": grouped.quantile(0.95),
        }
    ).reset_index()
    return design.merge(table, on="point", how="right")


def point_label(design: pd.DataFrame, point: int) -> str:
    """A design point named by its parameter values (short keys, 3 significant digits)."""
    row = design.set_index("point").loc[point]
    parts = [f"{k.rsplit('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()]
    return f"p{point}" + (": " + ", ".join(parts) if parts else "")


def pick_points(final: pd.Series, n: int = FAN_POINTS) -> list[int]:
    """Up to ``n`` design points spread over the range of the output's median final value."""
    order = final.sort_values(kind="stable").index.tolist()
    if len(order) <= n:
        return sorted(order)
    picks = np.unique(np.linspace(0, len(order) - 1, n).round().astype(int))
    return sorted(order[i] for i in picks)


def draw_fan(series: pd.DataFrame, design: pd.DataFrame, output: str, path: Path) -> Path:
    """Median and 5-95% band over replicates, month by month, for a few design points.

    A grey band behind them spans 5-95% over every run of the sweep.
    """
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.add_subplot()
    everyone = series.groupby("date")["value"].quantile(list(QUANTILES)).unstack()
    ax.fill_between(everyone.index, everyone[0.05], everyone[0.95], color="0.85", label="all runs, 5-95%")
    finals = series.sort_values("date", kind="stable").groupby(["point", "run_id"])["value"].last()
    colours = [f"C{i}" for i in range(10)]
    for i, point in enumerate(pick_points(finals.groupby(level="point").median())):
        sub = series[series["point"] == point]
        q = sub.groupby("date")["value"].quantile(list(QUANTILES)).unstack()
        colour = colours[i % len(colours)]
        ax.fill_between(q.index, q[0.05], q[0.95], color=colour, alpha=0.2, linewidth=0)
        ax.plot(q.index, q[0.5], color=colour, label=point_label(design, point))
    ax.set_title(f"{output}: median and 5-95% band over replicates")
    ax.set_xlabel("month")
    ax.set_ylabel(output)
    ax.legend(fontsize=7, loc="best")
    fig.savefig(path, dpi=110)
    return path


def point_means(stats: pd.DataFrame, output: str, stat: str, n_points: int) -> np.ndarray | None:
    """Each design point's mean over replicates, in design order; ``None`` if a point has no run."""
    sub = stats[(stats["output"] == output) & (stats["stat"] == stat)]
    means = sub.groupby("point")["value"].mean().reindex(range(n_points))
    if means.isna().any():
        return None
    return means.to_numpy(dtype=float)


def problem_matrix(spec: SweepSpec, design: pd.DataFrame) -> np.ndarray:
    """The design in SALib's problem space (log10 for log-scaled parameters)."""
    x = design[list(spec.parameters)].to_numpy(dtype=float)
    for j, rng in enumerate(spec.parameters.values()):
        if rng.scale == "log":
            x[:, j] = np.log10(x[:, j])
    return x


def sensitivity(spec: SweepSpec, design: pd.DataFrame, stats: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Sobol first-order and total indices, or Morris mu* and sigma, per output and parameter.

    The model output of a design point is the mean of ``outputs.sensitivity_stat`` over its
    replicates. Outputs with a missing point, or that never vary, get no indices (a note says why).
    """
    kind = spec.design.kind
    notes: list[str] = []
    if kind not in (DesignKind.SOBOL, DesignKind.MORRIS):
        return pd.DataFrame(), notes
    prob = problem(spec)
    stat = spec.outputs.sensitivity_stat
    rows = []
    for output in sorted(stats["output"].unique()):
        y = point_means(stats, output, stat, len(design))
        if y is None:
            notes.append(f"{output}: no indices, some design points have no finished run")
            continue
        if np.ptp(y) == 0:
            notes.append(f"{output}: no indices, it takes the same value at every design point")
            continue
        if kind == DesignKind.SOBOL:
            from SALib.analyze import sobol

            res = sobol.analyze(prob, y, calc_second_order=spec.design.second_order, seed=design_seed(spec))
            for j, name in enumerate(prob["names"]):
                rows.append(
                    {
                        "output": output,
                        "parameter": name,
                        "S1": res["S1"][j],
                        "S1_conf": res["S1_conf"][j],
                        "ST": res["ST"][j],
                        "ST_conf": res["ST_conf"][j],
                    }
                )
        else:
            from SALib.analyze import morris

            x = problem_matrix(spec, design)
            res = morris.analyze(prob, x, y, num_levels=spec.design.levels, seed=design_seed(spec))
            for j, name in enumerate(prob["names"]):
                rows.append(
                    {
                        "output": output,
                        "parameter": name,
                        "mu": res["mu"][j],
                        "mu_star": res["mu_star"][j],
                        "mu_star_conf": res["mu_star_conf"][j],
                        "sigma": res["sigma"][j],
                    }
                )
    return pd.DataFrame(rows), notes


def draw_sensitivity(table: pd.DataFrame, output: str, kind: DesignKind, path: Path) -> Path:
    """Sobol: bars of S1 and ST with 95% intervals. Morris: sigma against mu*, one dot per parameter."""
    sub = table[table["output"] == output]
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    names = [n.rsplit(".", 1)[-1] if len(n) > 30 else n for n in sub["parameter"]]
    if kind == DesignKind.SOBOL:
        pos = np.arange(len(sub))
        ax.bar(pos - 0.2, sub["S1"], 0.4, yerr=sub["S1_conf"], label="first order S1", capsize=3)
        ax.bar(pos + 0.2, sub["ST"], 0.4, yerr=sub["ST_conf"], label="total ST", capsize=3)
        ax.set_xticks(pos, names, rotation=15, ha="right", fontsize=8)
        ax.set_ylabel("share of output variance")
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.legend()
    else:
        ax.errorbar(sub["mu_star"], sub["sigma"], xerr=sub["mu_star_conf"], fmt="o")
        for x, y, name in zip(sub["mu_star"], sub["sigma"], names, strict=True):
            ax.annotate(name, (x, y), fontsize=8, xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel("mu* (mean absolute elementary effect)")
        ax.set_ylabel("sigma (spread of effects)")
    ax.set_title(f"sensitivity of {output}")
    fig.savefig(path, dpi=110)
    return path


def _table_html(table: pd.DataFrame, max_rows: int = 40) -> str:
    if table.empty:
        return "<p>none</p>"
    shown = table.head(max_rows)
    more = f"<p>... {len(table) - max_rows} more rows in the CSV file.</p>" if len(table) > max_rows else ""
    return shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="t") + more


def write_page(report: Report, spec: SweepSpec, doc: dict[str, Any], parts: list[tuple[str, str]]) -> Path:
    """The HTML page: the sweep's facts, then each section's tables and figures."""
    head = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>sweep {html.escape(spec.name)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table.t{border-collapse:collapse;font-size:13px}table.t td,table.t th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}</style></head><body>"
    )
    body = [f"<h1>Sweep {html.escape(spec.name)}</h1>"]
    if spec.description:
        body.append(f"<p>{html.escape(spec.description)}</p>")
    for title, content in parts:
        body.append(f"<h2>{html.escape(title)}</h2>{content}")
    if report.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes) + "</ul>")
    page = report.folder / "index.html"
    text = head + "\n".join(body) + "</body></html>\n"
    return write_atomic(page, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _facts(spec: SweepSpec, doc: dict[str, Any], manifest: pd.DataFrame) -> pd.DataFrame:
    counts = manifest["status"].value_counts() if not manifest.empty else pd.Series(dtype=int)
    facts = {
        "scenario": Path(spec.scenario).stem,
        "design": spec.design.kind.value,
        "parameters": ", ".join(spec.parameters) or "none (replicates of one scenario)",
        "design points": doc.get("points"),
        "replicates per point": spec.replicates,
        "runs planned": doc.get("runs"),
        "runs finished": int(counts.get("ok", 0)),
        "runs failed": int(counts.get("failed", 0)),
        "model time (run-seconds)": f"{manifest['runtime_s'].sum():.1f}" if not manifest.empty else "0",
        "sweep seed": spec.seed,
        "spec hash": doc.get("spec_hash"),
        "package version": doc.get("version"),
        "kept": spec.outputs.keep.value,
    }
    return pd.DataFrame({"": list(facts), "value": [str(v) for v in facts.values()]})


def make_report(out: str | Path) -> Report:
    """Write ``out/report/``: summary.csv, points.csv, fan-*.png, sensitivity*.{csv,png}, index.html.

    If ``agentmarket discover`` has run on the folder, the page shows its boxes and figures too.
    """
    from agentmarket.experiments.discover import discovery_section

    out = Path(out)
    spec, doc = load_sweep_spec(out)
    folder = out / REPORT_DIR
    folder.mkdir(exist_ok=True)
    report = Report(folder, folder / "index.html")
    manifest = read_manifest(out)
    design = read_design(out)
    results = read_results(out)
    parts: list[tuple[str, str]] = [("The sweep", _table_html(_facts(spec, doc, manifest)))]
    failed = manifest[manifest["status"] != "ok"] if not manifest.empty else manifest
    if not failed.empty:
        parts.append(("Failed runs", _table_html(failed[["run_id", "seed", "error"]])))
    if results.empty:
        report.notes.append("no run has finished yet")
        report.page = write_page(report, spec, doc, parts)
        return report
    stat = spec.outputs.sensitivity_stat
    stats = run_stats(results, spec.outputs.keep)
    summary = summary_table(stats, stat)
    points = point_table(stats, design, stat)
    for name, table in (("summary.csv", summary), ("points.csv", points)):
        table.to_csv(folder / name, index=False)
        report.tables.append(folder / name)
    parts.append((f"Summary over all runs ({stat} value of each run)", _table_html(summary)))
    parts.append((f"By design point ({stat} value)", _table_html(points)))
    if spec.outputs.keep == Keep.SERIES:
        figs = []
        series = results.assign(output=results["entity"] + "." + results["metric"])
        for output, sub in series.groupby("output", sort=True):
            path = draw_fan(sub, design, output, folder / f"fan-{_slug(output)}.png")
            report.figures.append(path)
            figs.append(f"<img src='{path.name}' alt='{html.escape(output)}'>")
        parts.append(("Fan charts", "\n".join(figs)))
    else:
        report.notes.append("fan charts need monthly series: set outputs.keep = 'series'")
    indices, notes = sensitivity(spec, design, stats)
    report.notes.extend(notes)
    if not indices.empty:
        indices.to_csv(folder / "sensitivity.csv", index=False)
        report.tables.append(folder / "sensitivity.csv")
        figs = []
        for output in indices["output"].unique():
            path = draw_sensitivity(indices, output, spec.design.kind, folder / f"sensitivity-{_slug(output)}.png")
            report.figures.append(path)
            figs.append(f"<img src='{path.name}' alt='sensitivity of {html.escape(output)}'>")
        label = "Sobol indices" if spec.design.kind == DesignKind.SOBOL else "Morris elementary effects"
        parts.append((f"Sensitivity: {label} of the {stat} value", _table_html(indices) + "\n".join(figs)))
    elif spec.design.kind not in (DesignKind.SOBOL, DesignKind.MORRIS):
        report.notes.append("sensitivity indices need a sobol or morris design")
    section = discovery_section(out)
    if section is not None:
        parts.append(section)
    report.page = write_page(report, spec, doc, parts)
    return report
