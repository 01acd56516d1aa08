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
        return float(p.loc[when, metric]) if when in p.index else math.nan

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
}


@dataclass(frozen=True)
class Target:
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
    """The widest tolerance allowed: 25% for money, 50% for shares and counts."""
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


def validation_table(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per target: the figure, the model's mean and 5-95% range, tolerance, status."""
    tol = load_tolerances()
    values = model_values(tables)
    rows = []
    for t in load_targets():
        desc, vals = (MODEL_VALUES[t.id][0], values[t.id]) if t.id in MODEL_VALUES else ("", np.array([]))
        finite = vals[np.isfinite(vals)] if vals.size else vals
        mean = float(finite.mean()) if finite.size else math.nan
        p05, p95 = np.percentile(finite, [5, 95]) if finite.size else (math.nan, math.nan)
        entry = tol.get(t.id, {})
        held = t.kind == "fact" and entry.get("held", True) and t.value is not None
        tolerance = entry.get("tolerance") if held else None
        if held and (tolerance is None or tolerance > limit_for(t)):
            raise ValueError(f"tolerances.toml: {t.id} needs a tolerance of at most {limit_for(t):.0%}")
        if not held:
            status = "shown" if t.kind != "fact" else "not held"
        elif not math.isfinite(mean) or len(finite) < len(vals):
            status = "miss"
        else:
            status = "pass" if abs(mean - t.value) <= tolerance * abs(t.value) else "miss"
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
            }
        )
    return pd.DataFrame(rows)


def calibration_loss(tables: list[pd.DataFrame]) -> float:
    """Sum over held targets of the squared error in units of each target's tolerance, plus
    ``EDGE_PENALTY`` times the square of how far it lies beyond ``SAFE_FRACTION`` of its band.

    A plain sum of squares lets one target sit outside its band while the others sit near
    their centres; validation counts a target as passed or missed, so leaving the band costs
    far more than moving within it. The margin below 1 keeps a fit on a few seeds inside the
    band on the ten that ``validate`` runs.
    """
    tol = load_tolerances()
    values = model_values(tables)
    loss = 0.0
    for t in load_targets():
        entry = tol.get(t.id, {})
        if t.kind != "fact" or not entry.get("held", True) or t.value is None or t.id not in MODEL_VALUES:
            continue
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
