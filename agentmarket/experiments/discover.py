"""Scenario discovery over a sweep: which region of the varied parameters makes an event happen.

``discover(out, "grid.binding.first <= 2027")`` reads a sweep folder, marks each finished
run by whether the outcome expression holds for it (see :mod:`.outcome`), and runs EMA
Workbench's PRIM on the design's parameters against that mark. It writes, into
``out/discovery/``:

* ``boxes.csv``: the chosen PRIM boxes, one row per restricted parameter (format below);
* ``trajectory.csv``: every step of each box's peeling and pasting trajectory;
* ``cart.csv``: the leaves of a CART tree, the alternative to PRIM, in the format of boxes.csv;
* ``feature_scores.csv``: each parameter's extra-trees feature score for the outcome;
* ``runs.csv``: each run's parameters and whether the outcome holds;
* ``discovery.json``: the expression, the counts and the settings;
* figures: ``prim-tradeoff.png`` (coverage against density along the peeling trajectory),
  ``prim-trajectory.png``, ``prim-box-N.png``, ``cart-tree.png``, ``feature-scores.png``;

and then remakes the sweep's report, whose page gains a scenario discovery section.

``boxes.csv`` (and ``cart.csv``) columns: ``outcome`` (the expression), ``box`` (1, 2, ...;
for CART the leaf), ``step`` (the box's place on its peeling trajectory; empty for CART),
``coverage`` (share of the runs showing the outcome that fall in the box), ``density``
(share of the runs in the box that show it), ``mass`` (share of all runs in the box),
``runs`` and ``hits`` (runs in the box, and those showing the outcome), ``res_dim``
(parameters restricted), ``parameter``, ``low`` and ``high`` (the box's limits on it, in the
parameter's units; empty for a parameter of listed levels), ``values`` (the levels kept, ``;``
between them, for a parameter of listed levels), ``range_low`` and ``range_high`` (the sweep's
range of the parameter), ``qp_low`` and ``qp_high`` (PRIM's quasi-p values of the two limits;
empty where a limit is not restricted, and for CART). A box that restricts nothing has one row
with an empty ``parameter``.
"""

from __future__ import annotations

import html
import json
import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from agentmarket.ema import import_workbench
from agentmarket.errors import InputError
from agentmarket.experiments.outcome import select_runs
from agentmarket.experiments.store import read_design, read_manifest, read_results
from agentmarket.files import current_umask

DISCOVERY_DIR = "discovery"
SUMMARY_FILE = "discovery.json"
BOX_COLUMNS = (
    "outcome",
    "box",
    "step",
    "coverage",
    "density",
    "mass",
    "runs",
    "hits",
    "res_dim",
    "parameter",
    "low",
    "high",
    "values",
    "range_low",
    "range_high",
    "qp_low",
    "qp_high",
)
FIGURE_DPI = 110


@dataclass
class Discovery:
    """What a discovery wrote: the folder, the counts, the chosen boxes and the files."""

    folder: Path
    outcome: str
    runs: int
    hits: int
    boxes: pd.DataFrame
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    report: Path | None = None


def run_table(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each finished run's varied parameters, and its summaries (``entity.metric.stat`` columns).

    Both tables are indexed by run id, in the same order.
    """
    from agentmarket.experiments.report import load_sweep_spec, run_stats
    from agentmarket.experiments.spec import varied_parameters

    spec, _doc = load_sweep_spec(out)
    results = read_results(out)
    if results.empty:
        raise InputError(f"{str(out)!r} has no finished run yet; run or resume the sweep first")
    names = varied_parameters(spec)
    if not names:
        raise InputError(
            f"{str(out)!r} varies no parameter (a batch of replicates); "
            "scenario discovery needs a sweep with [parameters.*] ranges"
        )
    stats = run_stats(results, spec.outputs.keep)
    stats = stats.assign(name=stats["output"] + "." + stats["stat"])
    outcomes = stats.pivot_table(index="run_id", columns="name", values="value", aggfunc="first", dropna=False)
    order = sorted(stats.drop_duplicates("name")["name"], key=_outcome_order)
    outcomes = outcomes.reindex(columns=order)
    outcomes.columns.name = None
    manifest = read_manifest(out)
    ok = manifest[manifest["status"] == "ok"].set_index("run_id")
    design = read_design(out).set_index("point")
    points = ok.loc[outcomes.index, "point"].astype(int)
    inputs = design.loc[points.to_numpy(), names].set_axis(outcomes.index)
    return inputs, outcomes


def sweep_ranges(spec) -> dict[str, tuple[float, float]]:
    """The sweep's bounds of each numeric parameter: its min and max, or its lowest and highest level."""
    ranges = {}
    for name, rng in spec.parameters.items():
        if rng.values is None:
            ranges[name] = (float(rng.min), float(rng.max))
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng.values):
            ranges[name] = (float(min(rng.values)), float(max(rng.values)))
    return ranges


def _outcome_order(name: str) -> tuple[str, int, str]:
    """Outcomes grouped by metric, whole-run statistics before per-year ones."""
    from agentmarket.experiments.spec import SUMMARY_STATS

    base, _, stat = name.rpartition(".")
    rank = SUMMARY_STATS.index(stat) if stat in SUMMARY_STATS else len(SUMMARY_STATS)
    return (base, rank, stat)


def choose_step(trajectory: pd.DataFrame, threshold: float) -> int:
    """The box to report on a peeling trajectory.

    The box of highest coverage among those that restrict a parameter and reach ``threshold``
    density; if none does, the box of highest density (then of highest coverage).
    """
    traj = trajectory.reset_index(drop=True)
    good = traj[(traj["density"] >= threshold) & (traj["res_dim"] >= 1)]
    if not good.empty:
        best = good.sort_values(["coverage", "res_dim", "density"], ascending=[False, True, False], kind="stable")
        return int(best.index[0])
    best = traj.sort_values(["density", "coverage"], ascending=[False, False], kind="stable")
    return int(best.index[0])


def _limits_rows(
    outcome: str,
    box: int,
    step: int | None,
    stats: dict[str, Any],
    lims: pd.DataFrame,
    init: pd.DataFrame,
    p_values: dict[str, Any] | None,
    ranges: dict[str, tuple[float, float]],
) -> list[dict[str, Any]]:
    """The long rows of one box: one per restricted parameter (one empty row if none).

    A side the box leaves unrestricted is reported at the sweep's bound (``ranges``), so that
    ``low == range_low`` means "no lower limit".
    """
    base = {"outcome": outcome, "box": box, "step": step, **stats}
    rows = []
    for name in lims.columns:
        low, high = lims[name].iloc[0], lims[name].iloc[1]
        full_low, full_high = init[name].iloc[0], init[name].iloc[1]
        if isinstance(low, set):
            if low == full_low:
                continue
            row = {"parameter": name, "values": ";".join(sorted(map(str, low)))}
        else:
            if low == full_low and high == full_high:
                continue
            range_low, range_high = ranges.get(name, (float(full_low), float(full_high)))
            row = {
                "parameter": name,
                "low": range_low if low == full_low else float(low),
                "high": range_high if high == full_high else float(high),
                "range_low": range_low,
                "range_high": range_high,
            }
            qp = (p_values or {}).get(name)
            if qp is not None:
                qp_low, qp_high = (float(v) if v is not None and v >= 0 else np.nan for v in qp)
                row.update(qp_low=qp_low, qp_high=qp_high)
        rows.append({**base, **row})
    return rows or [{**base, "parameter": ""}]


def _box_stats(y: np.ndarray, inside: np.ndarray, res_dim: int) -> dict[str, Any]:
    hits = int(y[inside].sum())
    runs = int(inside.sum())
    return {
        "coverage": hits / max(int(y.sum()), 1),
        "density": hits / runs if runs else np.nan,
        "mass": runs / len(y),
        "runs": runs,
        "hits": hits,
        "res_dim": res_dim,
    }


def in_box(x: pd.DataFrame, lims: pd.DataFrame) -> np.ndarray:
    """Which rows of ``x`` lie within box limits (two rows: low, high; sets for listed levels)."""
    inside = np.ones(len(x), dtype=bool)
    for name in lims.columns:
        low, high = lims[name].iloc[0], lims[name].iloc[1]
        values = x[name]
        if isinstance(low, set):
            inside &= values.isin(low).to_numpy()
        else:
            inside &= ((values >= low) & (values <= high)).to_numpy()
    return inside


def find_prim_boxes(
    x: pd.DataFrame,
    y: np.ndarray,
    outcome: str,
    *,
    boxes: int,
    threshold: float,
    peel_alpha: float,
    mass_min: float,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Any]]:
    """PRIM boxes (long rows), every box's trajectory, and the PRIM box objects.

    ``ranges`` are the sweep's bounds of each numeric parameter (default: the runs' extremes).
    """
    from ema_workbench.analysis import prim

    algorithm = prim.Prim(x, y, peel_alpha=peel_alpha, mass_min=mass_min)
    rows: list[dict[str, Any]] = []
    trajectories = []
    found = []
    for number in range(1, boxes + 1):
        if number > 1 and not y[algorithm.yi_remaining].any():
            break
        box = algorithm.find_box()
        if box is None:
            break
        trajectory = box.peeling_trajectory.reset_index(drop=True)
        step = choose_step(trajectory, threshold)
        box.select(step)
        found.append(box)
        lims = box.box_lims[step]
        inside = in_box(x, lims)
        res_dim = int(trajectory.loc[step, "res_dim"])
        stats = _box_stats(y, inside, res_dim)
        rows.extend(
            _limits_rows(outcome, number, step, stats, lims, algorithm.box_init, box.p_values[step], ranges or {})
        )
        kept = trajectory[["id", "coverage", "density", "mass", "res_dim", "n", "k"]].rename(
            columns={"id": "step", "n": "runs", "k": "hits"}
        )
        trajectories.append(kept.assign(box=number, chosen=kept["step"] == step))
    table = pd.DataFrame(rows).reindex(columns=list(BOX_COLUMNS))
    trajectory = pd.concat(trajectories, ignore_index=True) if trajectories else pd.DataFrame()
    if not trajectory.empty:
        trajectory = trajectory[["box", "step", "chosen", "coverage", "density", "mass", "res_dim", "runs", "hits"]]
    return table, trajectory, found


def with_fixed_seed(seed: int, fn, *args, **kwargs):
    """Call ``fn`` with numpy's global random state seeded, restoring the state afterwards.

    scikit-learn, under EMA Workbench's CART, draws from that global state; seeding it from the
    sweep's seed keeps a discovery reproducible.
    """
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        return fn(*args, **kwargs)
    finally:
        np.random.set_state(state)


def cart_leaves(
    x: pd.DataFrame,
    y: np.ndarray,
    outcome: str,
    mass_min: float,
    seed: int,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> tuple[pd.DataFrame, Any]:
    """A CART tree's leaves in the format of boxes.csv (``box`` is the leaf), and the tree."""
    from ema_workbench.analysis import cart

    tree = cart.CART(x, y, mass_min=max(mass_min, 1.0 / len(y)))  # a leaf holds at least one run
    with_fixed_seed(seed, tree.build_tree)
    init = _initial_box(x)
    rows = []
    for number, lims in enumerate(tree.boxes, start=1):
        inside = in_box(x, lims)
        res_dim = sum(1 for name in lims.columns if _restricted(lims[name], init[name]))
        rows.extend(_limits_rows(outcome, number, None, _box_stats(y, inside, res_dim), lims, init, None, ranges or {}))
    return pd.DataFrame(rows).reindex(columns=list(BOX_COLUMNS)), tree


def _initial_box(x: pd.DataFrame) -> pd.DataFrame:
    from ema_workbench.analysis import scenario_discovery_util as sdutil

    return sdutil._make_box(x)


def _restricted(lims: pd.Series, init: pd.Series) -> bool:
    if isinstance(lims.iloc[0], set):
        return lims.iloc[0] != init.iloc[0]
    return bool(lims.iloc[0] != init.iloc[0] or lims.iloc[1] != init.iloc[1])


def feature_scores(x: pd.DataFrame, y: np.ndarray, seed: int) -> pd.DataFrame:
    """Each parameter's extra-trees feature score for the outcome (they sum to 1), highest first."""
    from ema_workbench.analysis import feature_scoring
    from ema_workbench.analysis.scenario_discovery_util import RuleInductionType

    scores, _forest = feature_scoring.get_ex_feature_scores(
        x,
        y.astype(int),
        mode=RuleInductionType.CLASSIFICATION,
        max_features=max(1, round(x.shape[1] / 3)),
        random_state=seed % 2**32,
    )
    table = scores.reset_index()
    table.columns = ["parameter", "score"]
    return table


def _short(name: str) -> str:
    """A parameter key short enough for an axis label: its last two parts."""
    return ".".join(name.split(".")[-2:])


def draw_tradeoff(trajectory: pd.DataFrame, outcome: str, path: Path) -> Path:
    """Coverage against density along each box's peeling trajectory; the chosen box ringed."""
    fig = Figure(figsize=(7, 5.5), layout="constrained")
    ax = fig.add_subplot()
    for number, sub in trajectory.groupby("box"):
        points = ax.scatter(
            sub["coverage"], sub["density"], c=sub["res_dim"], cmap="viridis", vmin=0, vmax=max(trajectory["res_dim"])
        )
        ax.plot(sub["coverage"], sub["density"], color="0.7", linewidth=0.8, zorder=0)
        chosen = sub[sub["chosen"]]
        ax.scatter(chosen["coverage"], chosen["density"], s=220, facecolors="none", edgecolors="red", linewidths=1.5)
        for _, row in chosen.iterrows():
            ax.annotate(
                f"box {number} (step {int(row['step'])})",
                (row["coverage"], row["density"]),
                xytext=(8, -12),
                textcoords="offset points",
                color="red",
                fontsize=9,
            )
    cbar = fig.colorbar(points, ax=ax, ticks=range(int(max(trajectory["res_dim"])) + 1))
    cbar.set_label("parameters restricted")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("coverage (share of the outcome's runs inside the box)")
    ax.set_ylabel("density (share of the box's runs with the outcome)")
    ax.set_title(f"PRIM peeling trajectory: {outcome}", fontsize=10)
    fig.savefig(path, dpi=FIGURE_DPI)
    return path


def draw_trajectory(trajectory: pd.DataFrame, outcome: str, path: Path) -> Path:
    """Coverage, density and mass step by step along the first box's peeling trajectory."""
    sub = trajectory[trajectory["box"] == trajectory["box"].min()]
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for column in ("coverage", "density", "mass"):
        ax.plot(sub["step"], sub[column], marker="o", markersize=3, label=column)
    chosen = sub[sub["chosen"]]["step"]
    for step in chosen:
        ax.axvline(step, color="red", linewidth=0.8, linestyle="--", label="chosen box")
    dims = ax.twinx()
    dims.step(sub["step"], sub["res_dim"], where="mid", color="0.4", linewidth=0.8)
    dims.set_ylabel("parameters restricted")
    dims.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("peeling and pasting step")
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"PRIM trajectory of box 1: {outcome}", fontsize=10)
    fig.savefig(path, dpi=FIGURE_DPI)
    return path


def draw_box(box_rows: pd.DataFrame, x: pd.DataFrame, y: np.ndarray, number: int, path: Path) -> Path | None:
    """The box's limits on each restricted parameter, over the sweep's range, with every run as a dot."""
    rows = box_rows[(box_rows["box"] == number) & (box_rows["parameter"] != "")]
    numeric = rows[rows["low"].notna()]
    if numeric.empty:
        return None
    fig = Figure(figsize=(8, 1.2 + 0.7 * len(numeric)), layout="constrained")
    ax = fig.add_subplot()
    for i, row in enumerate(numeric.itertuples()):
        span = row.range_high - row.range_low or 1.0
        values = (x[row.parameter].to_numpy(dtype=float) - row.range_low) / span
        jitter = (np.arange(len(values)) % 5 - 2) * 0.05
        ax.scatter(values[~y], i + jitter[~y], s=10, color="0.6", label="outcome not shown" if i == 0 else None)
        ax.scatter(values[y], i + jitter[y], s=12, color="C3", label="outcome shown" if i == 0 else None)
        lo, hi = (row.low - row.range_low) / span, (row.high - row.range_low) / span
        ax.plot([lo, hi], [i, i], color="C0", linewidth=6, alpha=0.35, solid_capstyle="butt")
        ax.annotate(f"{row.low:.3g}", (lo, i + 0.25), ha="center", fontsize=8)
        ax.annotate(f"{row.high:.3g}", (hi, i + 0.25), ha="center", fontsize=8)
    ax.set_yticks(range(len(numeric)), [_short(p) for p in numeric["parameter"]], fontsize=8)
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.6, len(numeric) - 0.4)
    ax.set_xlabel("position in the sweep's range (0: lowest, 1: highest)")
    first = numeric.iloc[0]
    ax.set_title(
        f"box {number}: coverage {first['coverage']:.2f}, density {first['density']:.2f}, "
        f"{int(first['runs'])} runs of {len(y)}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=FIGURE_DPI)
    return path


def draw_tree(tree: Any, path: Path) -> Path:
    """The CART tree, drawn with scikit-learn's plot_tree (no graphviz needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from sklearn.tree import plot_tree

    leaves = int(tree.clf.get_n_leaves())
    fig = Figure(figsize=(max(6, 2.4 * leaves), 2 + 1.3 * tree.clf.get_depth()), layout="constrained")
    FigureCanvasAgg(fig)  # plot_tree measures text on the canvas's renderer
    ax = fig.add_subplot()
    plot_tree(
        tree.clf,
        feature_names=[_short(n) for n in tree.feature_names],
        class_names=["no", "yes"],
        filled=True,
        impurity=False,
        proportion=False,
        fontsize=8,
        ax=ax,
    )
    ax.set_title("CART: does the run show the outcome?", fontsize=10)
    fig.savefig(path, dpi=FIGURE_DPI)
    return path


def draw_scores(scores: pd.DataFrame, outcome: str, path: Path) -> Path:
    """Horizontal bars of each parameter's feature score."""
    fig = Figure(figsize=(7, 1.2 + 0.4 * len(scores)), layout="constrained")
    ax = fig.add_subplot()
    order = scores.iloc[::-1]
    ax.barh([_short(p) for p in order["parameter"]], order["score"], color="C0")
    ax.set_xlabel("extra-trees feature score")
    ax.set_title(f"which parameters tell the outcome apart: {outcome}", fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    fig.savefig(path, dpi=FIGURE_DPI)
    return path


def check_settings(boxes: int, threshold: float, peel_alpha: float, mass_min: float) -> None:
    """Each setting in its range, or one line naming it and the range."""
    if not 1 <= boxes <= 20:
        raise InputError(f"--boxes {boxes}: give 1 to 20 boxes")
    if not 0 < threshold <= 1:
        raise InputError(f"--threshold {threshold:g}: give a density above 0 and at most 1")
    if not 0 < peel_alpha < 0.5:
        raise InputError(f"--peel-alpha {peel_alpha:g}: give a share of the box above 0 and below 0.5")
    if not 0 < mass_min < 1:
        raise InputError(f"--mass-min {mass_min:g}: give a share of the runs above 0 and below 1")


def discover(
    out: str | Path,
    outcome: str,
    *,
    boxes: int = 1,
    threshold: float = 0.8,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
    report: bool = True,
) -> Discovery:
    """PRIM boxes, a CART tree and feature scores of ``outcome`` over a sweep; see the module doc.

    Every check (the folder, the expression, the settings) runs before anything is written;
    the new ``discovery/`` folder replaces an earlier one only once it is complete.
    """
    from agentmarket.experiments.report import load_sweep_spec

    out = Path(out)
    check_settings(boxes, threshold, peel_alpha, mass_min)
    spec, _doc = load_sweep_spec(out)
    inputs, outcomes = run_table(out)
    hit = select_runs(outcome, outcomes)
    x = inputs.reset_index(drop=True)
    for name in x.columns:
        if x[name].dtype == bool or not pd.api.types.is_numeric_dtype(x[name]):
            x[name] = x[name].astype(str)
        else:
            x[name] = x[name].astype(np.float64)  # PRIM's limits on integer columns fall between levels
    import_workbench()
    logging.getLogger("EMA").setLevel(logging.WARNING)
    ranges = sweep_ranges(spec)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="ema_workbench")  # its notices of pandas deprecations
        prim_rows, trajectory, _found = find_prim_boxes(
            x, hit, outcome, boxes=boxes, threshold=threshold, peel_alpha=peel_alpha, mass_min=mass_min, ranges=ranges
        )
        cart_rows, tree = cart_leaves(x, hit, outcome, mass_min, spec.seed, ranges)
        scores = feature_scores(x, hit, spec.seed)

    out.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{DISCOVERY_DIR}.", dir=out))
    try:
        result = Discovery(staging, outcome, len(hit), int(hit.sum()), prim_rows)
        runs = inputs.assign(outcome=hit)
        for name, table in (
            ("boxes.csv", prim_rows),
            ("trajectory.csv", trajectory),
            ("cart.csv", cart_rows),
            ("feature_scores.csv", scores),
            ("runs.csv", runs.reset_index()),
        ):
            table.to_csv(staging / name, index=False)
            result.tables.append(staging / name)
        figures = [
            draw_tradeoff(trajectory, outcome, staging / "prim-tradeoff.png"),
            draw_trajectory(trajectory, outcome, staging / "prim-trajectory.png"),
        ]
        for number in sorted(prim_rows["box"].unique()):
            path = draw_box(prim_rows, x, hit, int(number), staging / f"prim-box-{int(number)}.png")
            if path is not None:
                figures.append(path)
        figures.append(draw_tree(tree, staging / "cart-tree.png"))
        figures.append(draw_scores(scores, outcome, staging / "feature-scores.png"))
        result.figures = figures
        summary = {
            "outcome": outcome,
            "runs": len(hit),
            "hits": int(hit.sum()),
            "parameters": list(inputs.columns),
            "boxes": boxes,
            "threshold": threshold,
            "peel_alpha": peel_alpha,
            "mass_min": mass_min,
            "figures": [p.name for p in figures],
            "tables": [p.name for p in result.tables],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o777 & ~current_umask())  # mkdtemp makes it 0700; a plain mkdir would not
        final = out / DISCOVERY_DIR
        if final.exists():
            shutil.rmtree(final)
        staging.replace(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result.folder = final
    result.figures = [final / p.name for p in result.figures]
    result.tables = [final / p.name for p in result.tables]
    if report:
        from agentmarket.experiments.report import make_report

        result.report = make_report(out).page
    return result


def discovery_section(out: Path) -> tuple[str, str] | None:
    """The report page's scenario discovery section (title, HTML), if the sweep has a discovery.

    The page lies in ``out/report/``, so figures are linked as ``../discovery/NAME.png``.
    """
    folder = Path(out) / DISCOVERY_DIR
    path = folder / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        boxes = pd.read_csv(folder / "boxes.csv", keep_default_na=False, na_values=[""])
        scores = pd.read_csv(folder / "feature_scores.csv")
    except (OSError, ValueError, KeyError):
        return None
    rel = Path("..") / DISCOVERY_DIR
    shown = boxes[["box", "coverage", "density", "mass", "runs", "hits", "parameter", "low", "high", "values"]]
    parts = [
        f"<p>Outcome <code>{html.escape(summary['outcome'])}</code>: shown by {summary['hits']} of "
        f"{summary['runs']} runs. PRIM boxes (density threshold {summary['threshold']:g}); "
        "coverage is the share of those runs inside the box, density the share of the box's runs "
        f"that show it. Files in <code>{html.escape(str(Path(out) / DISCOVERY_DIR))}</code>.</p>",
        shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="t", na_rep=""),
        "<h3>Feature scores (extra trees)</h3>",
        scores.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0, classes="t"),
    ]
    for name in summary.get("figures", []):
        if (folder / name).is_file():
            parts.append(f"<img src='{html.escape(str(rel / name))}' alt='{html.escape(name)}'>")
    return ("Scenario discovery", "\n".join(parts))
