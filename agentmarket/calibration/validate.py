"""Validation against public figures: each target of targets.csv mapped to a model quantity.

A target is held when its kind is ``fact`` and the tolerances file does not mark it
``held = false``. The model's value is the mean over seeds; the 5-95% range is shown beside.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agentmarket.experiments.executor import Executor, open_executor
from agentmarket.output import pivot, run_scenario
from agentmarket.params import Params

HERE = Path(__file__).parent
TARGETS_CSV = HERE / "targets.csv"
TOLERANCES_TOML = HERE / "tolerances.toml"
MONEY_LIMIT = 0.25
SHARE_LIMIT = 0.5
RENTAL_LIMIT = 0.35
"""Rental prices come from a secondary index: held within 35% at most."""
BINDING_SEED_SHARE = 0.8
"""A binding-layer target is met when the record's layer binds the most months of the year in
at least this share of seeds (8 of 10)."""
BINDING_GAP_MONTHS = 3.0
"""Calibration's unit for a binding-layer miss: months by which the most-binding layer outruns the record's."""
SAFE_FRACTION = 0.8
"""Share of a tolerance band within which calibration treats a target as safely inside."""
EDGE_PENALTY = 200.0


def _year(df: pd.DataFrame, year: int) -> pd.DataFrame:
    return df[df.index.year == year]


def _sum(entity: str, metric: str, year: int) -> Callable[[pd.DataFrame], float]:
    def value(t: pd.DataFrame) -> float:
        return float(_year(pivot(t, entity), year)[metric].sum())

    return value


def _mean(entity: str, metric: str, year: int) -> Callable[[pd.DataFrame], float]:
    def value(t: pd.DataFrame) -> float:
        return float(_year(pivot(t, entity), year)[metric].mean())

    return value


def _at(entity: str, metric: str, month: str) -> Callable[[pd.DataFrame], float]:
    def value(t: pd.DataFrame) -> float:
        p = pivot(t, entity)
        when = pd.Timestamp(month + "-01")
        return float(p.loc[when, metric]) if when in p.index and metric in p.columns else math.nan

    return value


def _revenue_weighted(entity: str, metric: str, year: int) -> Callable[[pd.DataFrame], float]:
    def value(t: pd.DataFrame) -> float:
        p = _year(pivot(t, entity), year)
        rev = p["revenue"].sum()
        return float((p[metric] * p["revenue"]).sum() / rev) if rev > 0 else math.nan

    return value


def _gross_margin(entity: str, year: int) -> Callable[[pd.DataFrame], float]:
    def value(t: pd.DataFrame) -> float:
        p = _year(pivot(t, entity), year)
        rev = p["revenue"].sum()
        return float(1.0 - p["inference_cost"].sum() / rev) if rev > 0 else math.nan

    return value


def _ratio(entity: str, num: str, den: str, year: int) -> Callable[[pd.DataFrame], float]:
    def value(t: pd.DataFrame) -> float:
        p = _year(pivot(t, entity), year)
        d = p[den].sum()
        return float(p[num].sum() / d) if d > 0 else math.nan

    return value


LAYERS = ("packaging", "memory", "power", "grid")


def binding_months(table: pd.DataFrame, year: int) -> dict[str, float]:
    """Months of ``year`` in which each supply layer is on the minimum cut."""
    return {layer: float(_year(pivot(table, layer), year)["binding"].sum()) for layer in LAYERS}


def most_binding_layer(table: pd.DataFrame, year: int) -> str:
    """The layer on the minimum cut for the most months of ``year`` ("none" if none binds).

    Ties go to the layer further upstream (the order of ``LAYERS``).
    """
    months = binding_months(table, year)
    best = max(LAYERS, key=lambda layer: (months[layer], -LAYERS.index(layer)))
    return best if months[best] > 0 else "none"


def _binding_gap(table: pd.DataFrame, year: int, layer: str) -> float:
    """Months by which the most-binding layer of the year outruns ``layer`` (0 when ``layer`` binds most).

    A year in which ``layer`` never binds counts one month more, so that calibration prefers
    the record's layer binding a little to not at all.
    """
    months = binding_months(table, year)
    return max(months.values()) - months[layer] + (1.0 if months[layer] == 0 else 0.0)


BINDING_TARGETS: dict[str, tuple[int, str]] = {
    "binding_2023": (2023, "packaging"),
    "binding_2024": (2024, "memory"),
    "binding_2025": (2025, "power"),
    "binding_2026": (2026, "grid"),
}
"""Binding-layer targets: the year and the record's layer (the value column of targets.csv)."""


MODEL_VALUES: dict[str, tuple[str, Callable[[pd.DataFrame], float]]] = {
    "rev_2024": ("lab_a revenue, sum over 2024", _sum("lab_a", "revenue", 2024)),
    "rev_2025": ("lab_a revenue, sum over 2025", _sum("lab_a", "revenue", 2025)),
    "rev_month_2026_01": ("lab_a revenue, 2026-01", _at("lab_a", "revenue", "2026-01")),
    "training_2025": ("lab_a training cost, sum over 2025", _sum("lab_a", "training_cost", 2025)),
    "ebitda_2025": ("lab_a EBITDA, sum over 2025", _sum("lab_a", "ebitda", 2025)),
    "api_share_2025": ("lab_a API share of revenue, 2025", _revenue_weighted("lab_a", "api_share", 2025)),
    "big_clients_2025": (
        "lab_a API clients over 100 M USD/year, 2025-12",
        _at("lab_a", "clients_over_100m", "2025-12"),
    ),
    "gm_plan_2027": ("lab_a gross margin, 2027", _gross_margin("lab_a", 2027)),
    "gm_plan_2029": ("lab_b gross margin, 2029", _gross_margin("lab_b", 2029)),
    "rev_2025_b": ("lab_b revenue, sum over 2025", _sum("lab_b", "revenue", 2025)),
    "sub_price": ("average plan price held, 2026", _mean("market", "subscription_price", 2026)),
    "wage_low": ("adopters' wage, 25th percentile, 2026", _mean("market", "adopter_wage_p25", 2026)),
    "wage_high": ("adopters' wage, 75th percentile, 2026", _mean("market", "adopter_wage_p75", 2026)),
    "commit_share_2025_12": ("lab_a agent work share, 2025-12", _at("lab_a", "agent_work_share", "2025-12")),
    "commit_share_2026_01": ("lab_a agent work share, 2026-01", _at("lab_a", "agent_work_share", "2026-01")),
    "commit_share_2026_12": ("lab_a agent work share, 2026-12", _at("lab_a", "agent_work_share", "2026-12")),
    "capex_2026_a": ("cloud_amazon_like capex, 2026", _sum("cloud_amazon_like", "capex", 2026)),
    "capex_2026_g": ("cloud_google_like capex, 2026", _sum("cloud_google_like", "capex", 2026)),
    "capex_2026_m": ("cloud_meta_like capex, 2026", _sum("cloud_meta_like", "capex", 2026)),
    "capex_2026_ms": ("cloud_microsoft_like capex, 2026", _sum("cloud_microsoft_like", "capex", 2026)),
    "hbm_top2_share": ("top-two memory makers' share of output, 2026", _mean("market", "memory_top2_share", 2026)),
    "rd_share": ("lab_a training cost over revenue, 2025", _ratio("lab_a", "training_cost", "revenue", 2025)),
    "gm_2024": ("lab_a gross margin, 2024", _gross_margin("lab_a", 2024)),
    "gm_2025": ("lab_a gross margin, 2025", _gross_margin("lab_a", 2025)),
    "gm_plan_2025": ("lab_a gross margin, 2025", _gross_margin("lab_a", 2025)),
    "inference_overrun_2025": (
        "lab_a inference cost over planned, sum over 2025",
        _ratio("lab_a", "inference_cost", "inference_cost_planned", 2025),
    ),
    "rent_2024_10": ("H100 rental price, 2024-10", _at("market", "h100_rental_price", "2024-10")),
    "rent_2025_10": ("H100 rental price, 2025-10", _at("market", "h100_rental_price", "2025-10")),
    "rent_2026_03": ("H100 rental price, 2026-03", _at("market", "h100_rental_price", "2026-03")),
}


@dataclass(frozen=True)
class Target:
    """One public figure the model is checked against: what is measured, when, its value and source."""

    id: str
    metric: str
    entity: str
    period: str
    value: float | None
    text: str
    unit: str
    kind: str
    note: str


def parse_value(text: str) -> float | None:
    """A number from targets.csv's value column; None for ranges, inequalities and blanks."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def load_targets(path: Path = TARGETS_CSV) -> list[Target]:
    """The validation targets listed in ``path`` (CSV)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [
        Target(r.id, r.metric, r.entity, r.period, parse_value(r.value), r.value, r.unit, r.kind, r.note)
        for r in df.itertuples(index=False)
    ]


def load_tolerances(path: Path = TOLERANCES_TOML) -> dict[str, dict]:
    """Tolerances with their reasons; refuses any wider than the project's limits."""
    with open(path, "rb") as fh:
        tol = tomllib.load(fh)
    for key, entry in tol.items():
        if not entry.get("reason"):
            raise ValueError(f"tolerances.toml: {key} has no reason")
    return tol


def limit_for(target: Target) -> float:
    """The widest tolerance allowed for ``target``'s kind of figure.

    35% for rental prices (a secondary index), 25% for other money, 50% for shares, ratios and counts.
    """
    if target.metric == "compute_rental_price":
        return RENTAL_LIMIT
    return MONEY_LIMIT if target.unit.startswith("USD") else SHARE_LIMIT


def run_table(job: tuple[Params, int]) -> pd.DataFrame:
    """The tidy table of one run of ``params`` with one seed (a top-level function, for workers)."""
    params, seed = job
    return run_scenario(params, seed)[1]


def run_seeds(
    params: Params,
    seeds: Iterable[int],
    workers: int | None = 1,
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> list[pd.DataFrame]:
    """Tidy tables of ``params`` run once per seed, in the order of ``seeds``.

    The runs go to ``executor`` if given (a caller that runs many batches opens one and
    keeps it), else to one opened for them with ``workers`` and ``scheduler`` (see
    :func:`~agentmarket.experiments.executor.open_executor`).
    """
    jobs = [(params, int(s)) for s in seeds]
    if executor is not None:
        return executor.map(run_table, jobs)
    with open_executor(workers, scheduler, runs=len(jobs)) as opened:
        return opened.map(run_table, jobs)


def run_jobs(
    jobs: list[tuple[Params, int]], workers: int | None = 1, scheduler: str | None = None
) -> list[pd.DataFrame]:
    """Tidy tables of each (parameters, seed) job, in the order given, on an executor."""
    with open_executor(workers, scheduler, runs=len(jobs)) as opened:
        return opened.map(run_table, jobs)


def model_values(tables: list[pd.DataFrame], ids: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Every mapped target's model value in each run (only those named in ``ids``, if given)."""
    wanted = MODEL_VALUES if ids is None else {i: MODEL_VALUES[i] for i in ids}
    return {tid: np.array([fn(t) for t in tables]) for tid, (_, fn) in wanted.items()}


def _status(met: bool, entry: dict) -> str:
    """``pass``, ``miss``, or ``known miss`` for a miss that tolerances.toml explains.

    A known miss keeps its tolerance (it is never widened to pass): it is reported as missed,
    with the reason the rules cannot reach it, and does not fail ``validate``.
    """
    if met:
        return "pass"
    return "known miss" if entry.get("known_miss") else "miss"


def binding_layers_by_seed(tables: list[pd.DataFrame], year: int) -> list[str]:
    """The most-binding layer of ``year`` in each run."""
    return [most_binding_layer(t, year) for t in tables]


def _binding_row(t: Target, entry: dict, tables: list[pd.DataFrame]) -> dict:
    """A binding-layer target: met when the record's layer binds most in enough seeds."""
    year, layer = BINDING_TARGETS[t.id]
    share = entry.get("seed_share")
    if share is None or share < BINDING_SEED_SHARE:
        raise ValueError(f"tolerances.toml: {t.id} needs seed_share of at least {BINDING_SEED_SHARE:.0%}")
    found = binding_layers_by_seed(tables, year)
    met = float(np.mean([f == layer for f in found])) if found else math.nan
    counts = pd.Series(found, dtype=object).value_counts()
    return {
        "id": t.id,
        "kind": t.kind,
        "model quantity": f"share of seeds whose layer on the cut for most months of {year} is {layer}",
        "target": t.text,
        "unit": t.unit,
        "model mean": met,
        "p05": math.nan,
        "p95": math.nan,
        "tolerance": share,
        "status": _status(met >= share, entry),
        "reason": entry.get("reason", ""),
        "detail": ", ".join(f"{name} {n}" for name, n in counts.items()),
    }


def validation_table(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per target: the figure, the model's mean and 5-95% range, tolerance, status.

    For a binding-layer target the model mean is the share of seeds in which the record's
    layer binds the most months of the year, the tolerance the share it must reach, and
    ``detail`` counts the seeds by their most-binding layer.
    """
    tol = load_tolerances()
    values = model_values(tables)
    rows = []
    for t in load_targets():
        entry = tol.get(t.id, {})
        if t.id in BINDING_TARGETS and t.kind == "fact" and entry.get("held", True):
            rows.append(_binding_row(t, entry, tables))
            continue
        desc, vals = (MODEL_VALUES[t.id][0], values[t.id]) if t.id in MODEL_VALUES else ("", np.array([]))
        finite = vals[np.isfinite(vals)] if vals.size else vals
        mean = float(finite.mean()) if finite.size else math.nan
        p05, p95 = np.percentile(finite, [5, 95]) if finite.size else (math.nan, math.nan)
        held = t.kind == "fact" and entry.get("held", True) and t.value is not None
        tolerance = entry.get("tolerance") if held else None
        if held and (tolerance is None or tolerance > limit_for(t)):
            raise ValueError(f"tolerances.toml: {t.id} needs a tolerance of at most {limit_for(t):.0%}")
        if not held:
            status = "shown" if t.kind != "fact" else "not held"
        elif not math.isfinite(mean) or len(finite) < len(vals):
            status = "miss"
        else:
            status = _status(abs(mean - t.value) <= tolerance * abs(t.value), entry)
        rows.append(
            {
                "id": t.id,
                "kind": t.kind,
                "model quantity": desc,
                "target": t.text,
                "unit": t.unit,
                "model mean": mean,
                "p05": float(p05),
                "p95": float(p95),
                "tolerance": tolerance,
                "status": status,
                "reason": entry.get("reason", ""),
                "detail": "",
            }
        )
    return pd.DataFrame(rows)


def calibration_loss(tables: list[pd.DataFrame]) -> float:
    """Squared errors over the held targets, in tolerances, plus a steep charge for leaving a band.

    The sum is over held targets of the squared error in units of each target's tolerance,
    plus ``EDGE_PENALTY`` times the square of how far it lies beyond ``SAFE_FRACTION`` of its band.

    A plain sum of squares lets one target sit outside its band while the others sit near
    their centres; validation counts a target as passed or missed, so leaving the band costs
    far more than moving within it. The margin below 1 keeps a fit on a few seeds inside the
    band on the ten that ``validate`` runs. A binding-layer target's error is the mean over
    seeds of the months by which the year's most-binding layer outruns the record's, in units
    of ``BINDING_GAP_MONTHS``.
    """
    tol = load_tolerances()
    values = model_values(tables)
    loss = 0.0
    for t in load_targets():
        entry = tol.get(t.id, {})
        if t.kind != "fact" or not entry.get("held", True):
            continue
        if t.id in BINDING_TARGETS:
            if not tables:
                continue
            year, layer = BINDING_TARGETS[t.id]
            err = float(np.mean([_binding_gap(table, year, layer) for table in tables])) / BINDING_GAP_MONTHS
        elif t.value is None or t.id not in MODEL_VALUES:
            continue
        else:
            v = values[t.id]
            mean = float(np.nanmean(v)) if np.isfinite(v).any() else math.inf
            err = abs(mean - t.value) / (entry["tolerance"] * abs(t.value))
        beyond = max(err - SAFE_FRACTION, 0.0)
        loss += min(err * err + EDGE_PENALTY * beyond * beyond, 1e4)
    return loss


def fact_month(target: Target) -> str:
    """The month a target is dated: its ``period`` if ``YYYY-MM``, the year's December if ``YYYY``.

    An annual figure is known only once its year is over.
    """
    period = target.period.strip()
    return f"{period}-12" if len(period) == 4 else period[:7]


def held_facts(until: str | None = None, after: str | None = None) -> list[tuple[Target, float]]:
    """The held facts that have a model quantity, each with its relative tolerance.

    ``until`` keeps the facts dated up to that month (``YYYY-MM``), ``after`` those dated
    after it. These are the targets that ``validate`` passes or misses and that calibration fits.
    """
    tol = load_tolerances()
    out = []
    for t in load_targets():
        entry = tol.get(t.id, {})
        if t.kind != "fact" or not entry.get("held", True) or t.value is None or t.id not in MODEL_VALUES:
            continue
        month = fact_month(t)
        if (until is not None and month > until) or (after is not None and month <= after):
            continue
        out.append((t, float(entry["tolerance"])))
    return out


def tolerance_errors(values: dict[str, float], facts: list[tuple[Target, float]]) -> dict[str, float]:
    """Each fact's signed error in units of its tolerance band: (model - target) / (tolerance * |target|)."""
    return {t.id: (values[t.id] - t.value) / (tol * abs(t.value)) for t, tol in facts}
