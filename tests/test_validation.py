"""Validation against public figures: the tolerances, the reduced check, and recalibration."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from agentmarket.calibration.calibrate import expand, horizon_months, load_free_parameters, write_calibrated_scenario
from agentmarket.calibration.validate import (
    BINDING_SEED_SHARE,
    BINDING_TARGETS,
    MODEL_VALUES,
    calibration_loss,
    limit_for,
    load_targets,
    load_tolerances,
    most_binding_layer,
    run_seeds,
    validation_table,
)
from agentmarket.cli import main
from agentmarket.scenarios import load_scenario


def test_every_held_fact_has_a_model_quantity_and_a_tolerance_within_the_limits_with_a_reason():
    tolerances = load_tolerances()
    for target in load_targets():
        if target.kind != "fact":
            continue
        entry = tolerances[target.id]
        assert entry["reason"]
        if entry.get("held", True) and target.id in BINDING_TARGETS:
            assert entry["seed_share"] >= BINDING_SEED_SHARE
            assert BINDING_TARGETS[target.id] == (int(target.period), target.text)
        elif entry.get("held", True):
            assert target.id in MODEL_VALUES
            assert 0 < entry["tolerance"] <= limit_for(target)


def test_calibration_prefers_every_target_inside_its_band_to_one_outside(monkeypatch):
    """The loss charges more for one target 10% beyond its band than for all of them at 70% of theirs."""
    import agentmarket.calibration.validate as v

    held = [t for t in load_targets() if t.kind == "fact" and t.id in MODEL_VALUES and t.value is not None]
    held = [t for t in held if load_tolerances()[t.id].get("held", True)]
    tol = load_tolerances()

    def at(fraction_of_band: dict[str, float]):
        values = {
            t.id: np.array([t.value * (1 + fraction_of_band.get(t.id, 0.0) * tol[t.id]["tolerance"])]) for t in held
        }
        monkeypatch.setattr(v, "model_values", lambda tables: values)
        return v.calibration_loss([])

    all_inside = at({t.id: 0.7 for t in held})
    one_outside = at({"rev_2025": -1.1})
    assert at({}) == 0.0
    assert one_outside > all_inside


def test_money_targets_are_held_within_25_percent_rental_prices_35_and_shares_50():
    by_id = {t.id: t for t in load_targets()}
    assert limit_for(by_id["rev_2025"]) == 0.25
    assert limit_for(by_id["rent_2025_10"]) == 0.35
    assert limit_for(by_id["api_share_2025"]) == 0.5
    assert limit_for(by_id["inference_overrun_2025"]) == 0.5


def _binding_table(months: dict[str, int], year: int = 2024) -> pd.DataFrame:
    """A tidy table of one year in which each layer is on the cut for its first ``months`` months."""
    rows = []
    for layer in ("packaging", "memory", "power", "grid"):
        for m in range(12):
            rows.append((pd.Timestamp(f"{year}-{m + 1:02d}-01"), layer, "binding", float(m < months.get(layer, 0))))
    return pd.DataFrame(rows, columns=["date", "entity", "metric", "value"])


def test_the_binding_layer_of_a_year_is_the_one_on_the_cut_for_most_months():
    assert most_binding_layer(_binding_table({"memory": 7, "packaging": 5}), 2024) == "memory"
    assert most_binding_layer(_binding_table({"grid": 2}), 2024) == "grid"
    assert most_binding_layer(_binding_table({}), 2024) == "none"
    assert most_binding_layer(_binding_table({"power": 4, "memory": 4}), 2024) == "memory", "ties go upstream"


def test_a_known_miss_is_reported_as_missed_keeps_its_tolerance_and_needs_its_reason():
    import agentmarket.calibration.validate as v

    entry = {"tolerance": 0.25, "reason": "r", "known_miss": "the rules cannot reach it because ..."}
    assert v._status(False, entry) == "known miss"
    assert v._status(True, entry) == "pass"
    assert v._status(False, {"tolerance": 0.25, "reason": "r"}) == "miss"
    for target_id, e in load_tolerances().items():
        if e.get("known_miss"):
            assert len(e["known_miss"]) > 40, f"{target_id}: a known miss needs its explanation"


def test_a_binding_target_is_met_in_8_of_10_seeds_and_missed_in_7(monkeypatch):
    import agentmarket.calibration.validate as v

    hit, other = _binding_table({"memory": 8}), _binding_table({"packaging": 8, "memory": 2})
    monkeypatch.setattr(v, "load_targets", lambda: [t for t in load_targets() if t.id == "binding_2024"])
    monkeypatch.setattr(v, "model_values", lambda tables: {})
    assert validation_table([hit] * 8 + [other] * 2)["status"].tolist() == ["pass"]
    assert validation_table([hit] * 7 + [other] * 3)["status"].tolist() == ["miss"]
    assert calibration_loss([hit] * 10) == 0.0
    assert calibration_loss([other] * 10) > calibration_loss([hit] * 5 + [other] * 5) > 0.0


@pytest.mark.slow
def test_the_baseline_passes_every_held_fact_target_over_the_seeds_validate_runs():
    """Over seeds 0-9, as ``agentmarket validate --seeds 10``: lab_a's revenue varies about
    two-fold between seeds (January 2026: 0.66e9-1.50e9 USD), so three seeds cannot hold a 25% band."""
    params = load_scenario("baseline", {"simulation.months": horizon_months("baseline")})
    table = validation_table(run_seeds(params, range(10), workers=1))
    held = table[table["status"].isin(["pass", "miss", "known miss"])]
    missed = held[held["status"] == "miss"]
    assert missed.empty, missed[["id", "target", "model mean"]].to_string()
    assert len(held) == 24


def test_a_missed_target_makes_validate_exit_1(tmp_path, capsys):
    scenario = tmp_path / "slow-adoption.toml"
    scenario.write_text('extends = "baseline"\n[adoption]\ninnovation = 0.0\nimitation = 0.0\n')
    rc = main(["validate", "--scenario", str(scenario), "--seeds", "1", "--developers", "500", "--workers", "1"])
    assert rc == 1
    assert "missed" in capsys.readouterr().out


def test_calibrated_values_are_written_as_a_scenario_that_extends_the_one_fitted(tmp_path):
    free = load_free_parameters()
    values = expand(free, {p.key: (p.low + p.high) / 2 for p in free})
    path = write_calibrated_scenario("baseline", values, 1.5, tmp_path / "fitted.toml")
    doc = tomllib.loads(path.read_text())
    assert doc["extends"] == "baseline"
    fitted = load_scenario(str(path))
    assert fitted.adoption.imitation == pytest.approx(values["adoption.imitation"], rel=1e-5)
    assert fitted.labs["lab_a"].coding_focus == pytest.approx(values["labs.lab_a.coding_focus"], rel=1e-5)


def test_at_most_twenty_free_parameters_and_tied_keys_keep_their_ratios():
    free = load_free_parameters()
    assert len(free) <= 20
    memory = next(p for p in free if p.key == "suppliers.hbm_maker_1.capacity")
    settings = expand(free, {memory.key: 6e4})
    assert settings["suppliers.hbm_maker_2.capacity"] == pytest.approx(6e4 * 0.83673)
    base = load_scenario("baseline")
    makers = [base.suppliers[f"hbm_maker_{i}"].capacity for i in (1, 2, 3)]
    assert [m / makers[0] for m in makers[1:]] == pytest.approx([r for _, r in memory.also], rel=1e-3)


def test_calibrate_runs_end_to_end_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "cal.toml"
    args = ["calibrate", "--trials", "2", "--seeds", "1", "--developers", "300", "--out", str(out)]
    assert main(args) == 0
    assert load_scenario(str(out)).name == "cal"
    assert main(args) == 2
