"""How results look on a terminal: the rich tables and progress bars the commands print.

The command line (``agentmarket/cli.py``) parses, calls the package and prints what these
functions build. Each table carries the width it needs (``min_width``), so that
:func:`print_table` keeps its columns readable when the output goes to a pipe or a narrow
terminal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

RUN_SUMMARY_COLUMNS = (
    "year",
    "adoption",
    "agent work",
    "lab_a revenue",
    "lab_a gross margin",
    "compute USD/h",
    "binding",
)
PARAMS_COLUMNS = ("key", "value", "unit", "allowed", "description")
VALIDATION_COLUMNS = ("id", "kind", "target", "unit", "model mean", "5-95%", "tolerance", "status")


def print_table(table: Table, console: Console | None = None) -> None:
    """Print ``table`` at least its ``min_width`` columns wide."""
    console = console or Console()
    Console(width=max(console.width, table.min_width or 0)).print(table)


def number(value: float) -> str:
    """A figure in three significant digits (scientific from 10,000 up); ``-`` for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.3e}"


def run_summary_table(name: str, seed: int, rows: Iterable[Sequence[str]]) -> Table:
    """The yearly summary of one run (rows from :func:`agentmarket.output.summary_rows`)."""
    table = Table(title=f"{name} (seed {seed})", min_width=110)
    for column in RUN_SUMMARY_COLUMNS:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def params_table(scenario: str, rows: Iterable) -> Table:
    """Every parameter (rows from :func:`agentmarket.scenarios.describe_params`)."""
    table = Table(title=f"parameters of {scenario}", min_width=200)
    for column in PARAMS_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.key, str(row.value), row.unit, row.allowed, row.description)
    return table


def bench_table(results: list[dict], months: int, seed: int) -> Table:
    """The benchmark's figures per agent count, in the columns of :data:`agentmarket.bench.TABLE_COLUMNS`."""
    from agentmarket import bench

    table = Table(title=f"agentmarket bench: baseline, {months} months, seed {seed} (CPU time)", min_width=170)
    for title, _key, _fmt in bench.TABLE_COLUMNS:
        table.add_column(title, justify="right")
    for row in bench.table_rows(results):
        table.add_row(*row)
    return table


def target_lines(checks: Iterable[tuple[str, bool | None, str]]) -> list[str]:
    """One line per performance target: met, NOT met or not measured, then the figures."""
    lines = []
    for target, met, figures in checks:
        verdict = "not measured" if met is None else ("met" if met else "NOT met")
        lines.append(f"{verdict:>12}  {target}  {figures}")
    return lines


def validation_table_view(table: pd.DataFrame, name: str, seeds: int, drawn_from: object | None = None) -> Table:
    """The validation table (from :func:`agentmarket.calibration.validate.validation_table`).

    ``drawn_from`` names the posterior file the runs drew their parameters from, if any.
    """
    how = f", parameters drawn from {drawn_from}" if drawn_from is not None else ""
    out = Table(title=f"{name} against public figures ({seeds} seeds{how})", min_width=140)
    for column in VALIDATION_COLUMNS:
        out.add_column(column, overflow="fold")
    for r in table.to_dict("records"):
        band = f"{number(r['p05'])} .. {number(r['p95'])}" if r["p05"] == r["p05"] else (r.get("detail") or "-")
        tol = r["tolerance"]
        tol = f"{tol:.0%}" if tol is not None and not math.isnan(tol) else "-"
        out.add_row(r["id"], r["kind"], r["target"], r["unit"], number(r["model mean"]), band, tol, r["status"])
    return out


def validation_verdict(table: pd.DataFrame) -> tuple[str, bool]:
    """The closing line of a validation and whether every fact held (a known miss does not fail it).

    The line gives the passed and missed counts, the missed ids, and the known misses (each
    explained in tolerances.toml).
    """
    missed = table.loc[table["status"] == "miss", "id"].tolist()
    known = table.loc[table["status"] == "known miss", "id"].tolist()
    passed = int((table["status"] == "pass").sum())
    line = (
        f"{passed} passed, {len(missed)} missed"
        + (f": {', '.join(missed)}" if missed else "")
        + (f"; {len(known)} known misses (explained in tolerances.toml): {', '.join(known)}" if known else "")
    )
    return line, not missed


def coverage_line(inside: int, total: int) -> str:
    """How many facts lie inside their 90% posterior predictive interval, and the share."""
    return f"{inside} of {total} facts inside their 90% predictive interval ({inside / max(total, 1):.0%})"


def box_lines(boxes: pd.DataFrame) -> list[str]:
    """One line per restriction of each PRIM box (rows of discovery's ``boxes.csv``)."""
    lines = []
    for row in boxes.itertuples():
        where = f"{row.parameter} in [{row.low:.4g}, {row.high:.4g}]" if row.parameter and row.low == row.low else ""
        if row.parameter and row.low != row.low:
            where = f"{row.parameter} in {{{row.values}}}"
        lines.append(
            f"box {row.box}: coverage {row.coverage:.2f}, density {row.density:.2f}, "
            f"{row.runs} runs  {where or '(no restriction)'}"
        )
    return lines


def abc_progress_line(generation: int, accepted: int, evaluations: int) -> str:
    """One line of an ABC-SMC run's progress: the stage (prior sample or generation) and its counts."""
    stage = "prior sample" if generation < 0 else f"generation {generation}"
    return f"{stage}: {accepted} accepted of {evaluations} evaluated"


def posterior_table(posterior: pd.DataFrame, intervals: pd.DataFrame) -> Table:
    """Each free parameter's posterior median and 90% interval (rows of ``credible_intervals``)."""
    table = Table(title=f"posterior ({len(posterior)} particles): median and 90% interval", min_width=100)
    for column in ("parameter", "median", "5%", "95%"):
        table.add_column(column, justify="right" if column != "parameter" else "left")
    for r in intervals.to_dict("records"):
        table.add_row(r["parameter"], f"{r['median']:.4g}", f"{r['low']:.4g}", f"{r['high']:.4g}")
    return table


HINDCAST_COLUMNS = ("id", "date", "unit", "fact", "90% interval", "inside", "score", "benchmark", "bench score")


def hindcast_table(scoreboard: pd.DataFrame, cutoff: str) -> Table:
    """The hindcast scoreboard: each later fact, its 90% predictive interval and interval scores."""
    table = Table(
        title=f"hindcast from {cutoff}: 90% predictive intervals and interval scores (relative)", min_width=150
    )
    for column in HINDCAST_COLUMNS:
        table.add_column(column, justify="left" if column in ("id", "unit") else "right")
    for r in scoreboard.to_dict("records"):
        table.add_row(
            r["id"],
            r["date"],
            r["unit"],
            number(r["fact"]),
            f"{number(r['low'])} .. {number(r['high'])}",
            "yes" if r["inside"] else "no",
            number(r["score"]),
            number(r["benchmark"]),
            number(r["benchmark_score"]),
        )
    return table


def agreement_text(table: pd.DataFrame) -> str:
    """The convergence agreement table as plain text, figures in four significant digits."""
    return table.to_string(index=False, float_format=lambda x: f"{x:.4g}")


def run_progress(console: Console | None = None) -> Progress:
    """A transient progress bar of runs: description, bar, done of total, time elapsed."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)
