"""Run summaries: the statistics each kept metric of a run is reduced to, and the event outcomes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agentmarket.experiments import parse_spec
from agentmarket.experiments.runner import fractional_year, summarise
from agentmarket.experiments.spec import base_params, select_metrics
from agentmarket.scenarios import SCENARIO_DIR


def monthly(values: list[float], start: str = "2025-11") -> pd.DataFrame:
    """One run's monthly series of a layer's binding flag."""
    dates = pd.date_range(start, periods=len(values), freq="MS")
    return pd.DataFrame(
        {
            "run_id": "r",
            "point": 0,
            "replicate": 0,
            "date": dates,
            "entity": "grid",
            "metric": "binding",
            "value": values,
        }
    )


def stats_of(series: pd.DataFrame) -> dict[str, float]:
    table = summarise(series)
    return dict(zip(table["stat"], table["value"], strict=True))


def test_first_is_the_first_non_zero_month_as_a_fractional_year() -> None:
    assert fractional_year(pd.Series(pd.to_datetime(["2026-01-01", "2026-07-01", "2025-12-01"]))).tolist() == [
        2026.0,
        2026.5,
        2025 + 11 / 12,
    ]
    assert stats_of(monthly([0, 0, 1, 0, 1]))["first"] == 2026.0
    assert stats_of(monthly([0, 0, 0, 0, 0, 0, 0, 0, 1]))["first"] == 2026.5
    assert np.isnan(stats_of(monthly([0, 0, 0]))["first"]), "a metric that is never non-zero has no first month"


def test_sum_and_months_per_year_count_the_months_bound() -> None:
    stats = stats_of(monthly([1, 0, 1, 1, 0, 1, 0]))  # 2025-11 .. 2026-05
    assert stats["sum"] == 4
    assert stats["months_2025"] == 1 and stats["months_2026"] == 3
    assert stats["mean_2026"] == pytest.approx(3 / 5)
    assert (stats["final"], stats["min"], stats["max"]) == (0, 0, 1)


def test_events_keep_every_layers_binding_and_every_labs_exit_cash_and_margin(tmp_path: Path) -> None:
    scenario = tmp_path / "base.toml"
    shutil.copyfile(SCENARIO_DIR / "baseline.toml", scenario)
    spec = parse_spec(
        {
            "scenario": str(scenario),
            "outputs": {"metrics": ["market.adoption_share"], "events": True, "keep": "summary"},
        }
    )
    kept = set(select_metrics(spec.outputs.metrics, base_params(spec)))
    layers = {"memory", "packaging", "power", "grid"}
    assert {(layer, "binding") for layer in layers} <= kept
    for lab in ("lab_a", "lab_b"):
        assert {(lab, "exited"), (lab, "cash"), (lab, "gross_margin")} <= kept
    assert ("market", "compute_price") in kept and ("market", "adoption_share") in kept
    assert parse_spec(spec.model_dump(mode="json")).outputs.metrics == spec.outputs.metrics, "adding them is idempotent"
