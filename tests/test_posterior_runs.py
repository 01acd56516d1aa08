"""Posterior predictive runs: batch, compare and validate draw each run's parameters by its seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agentmarket.calibration.calibrate import load_free_parameters
from agentmarket.cli import main
from agentmarket.experiments import read_manifest
from agentmarket.scenarios import load_scenario

pytestmark = pytest.mark.xdist_group("posterior-runs")


def posterior_file(path: Path, particles: int = 6) -> Path:
    """Particles around the baseline's values, with distinct imitation coefficients."""
    base = load_scenario("baseline")
    rows = []
    for i in range(particles):
        row = {}
        for p in load_free_parameters():
            node = base
            for part in p.key.split("."):
                node = node[part] if isinstance(node, dict) else getattr(node, part)
            row[p.key] = float(node)
        row["adoption.imitation"] = 0.2 + 0.05 * i
        rows.append(row)
    pd.DataFrame(rows).assign(weight=1.0 / particles).to_parquet(path, index=False)
    return path


def test_batch_records_each_runs_drawn_parameters_in_its_manifest(tmp_path, capsys):
    post = posterior_file(tmp_path / "posterior.parquet")
    out = tmp_path / "batch"
    args = ["batch", "--posterior", str(post), "--seeds", "4", "--months", "2", "--workers", "1", "--quiet"]
    code = main([*args, "--set", "simulation.developer_agents=50", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    manifest = read_manifest(out)
    assert len(manifest) == 4 and (manifest["status"] == "ok").all()
    drawn = pd.DataFrame(manifest["params"].tolist())
    assert set(p.key for p in load_free_parameters()) <= set(drawn.columns)
    assert drawn["adoption.imitation"].nunique() > 1, "every run drew the same parameters"
    assert set(drawn["adoption.imitation"].round(6)) <= {round(0.2 + 0.05 * i, 6) for i in range(6)}


def test_compare_draws_the_same_parameters_for_the_same_seed_and_records_them(tmp_path, capsys):
    post = posterior_file(tmp_path / "posterior.parquet")
    out = tmp_path / "cmp"
    args = ["compare", "baseline", "price-war", "--posterior", str(post), "--seeds", "3", "--months", "2"]
    code = main([*args, "--developers", "50", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    draws = pd.read_csv(out / "draws.csv")
    assert list(draws["seed"]) == [0, 1, 2]
    assert "adoption.imitation" in draws.columns


def test_validate_reports_the_share_of_facts_inside_their_predictive_interval(tmp_path, capsys):
    post = posterior_file(tmp_path / "posterior.parquet")
    code = main(["validate", "--posterior", str(post), "--seeds", "3", "--developers", "100", "--workers", "1"])
    printed = capsys.readouterr().out
    assert code in (0, 1)
    (line,) = [ln for ln in printed.splitlines() if "predictive interval" in ln]
    inside, total = int(line.split()[0]), int(line.split()[2])
    assert 0 <= inside <= total and total >= 10
