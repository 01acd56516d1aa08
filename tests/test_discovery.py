"""Event summaries of a run, outcome expressions, and scenario discovery over a sweep folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agentmarket.errors import InputError
from agentmarket.experiments import design_table, parse_spec, plan_runs, spec_hash
from agentmarket.experiments.discover import choose_step, discover
from agentmarket.experiments.outcome import evaluate, parse_outcome, select_runs
from agentmarket.experiments.runner import RunResult
from agentmarket.experiments.store import Manifest, init_dir, manifest_record, write_run
from agentmarket.scenarios import SCENARIO_DIR

AGENTMARKET = str(Path(sys.executable).parent / "agentmarket")


def outcomes_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "grid.binding.first": [2026.0, 2027.5, np.nan, 2025.0],
            "lab_a.exited.max": [0.0, 1.0, 0.0, 1.0],
        }
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("grid.binding.first <= 2027", [True, False, False, True]),
        ("grid.binding.first != 2026", [False, True, True, True]),
        ("lab_a.exited.max > 0 and grid.binding.first < 2026", [False, False, False, True]),
        ("lab_a.exited.max == 0 or grid.binding.first >= 2027 and lab_a.exited.max > 0", [True, True, True, False]),
        ("(lab_a.exited.max == 0 or grid.binding.first >= 2027) and lab_a.exited.max > 0", [False, True, False, False]),
        ("not grid.binding.first < 2027", [False, True, True, False]),
        ("2027 > grid.binding.first", [True, False, False, True]),
        ("lab_a.exited.max>0&&grid.binding.first>2026", [False, True, False, False]),
    ],
)
def test_outcome_expressions_follow_comparison_and_boolean_rules(text: str, expected: list[bool]) -> None:
    assert evaluate(parse_outcome(text), outcomes_table()).tolist() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grid.binding.frist <= 2027", r"unknown outcome 'grid.binding.frist'; allowed: grid.binding.\{first\}"),
        ("lab_a.exited.max >= 0", r"holds for every run \(4 of 4\)"),
        ("grid.binding.first <= 2000", r"holds for no run \(0 of 4\)"),
        ("grid.binding.first <=", "expected an outcome name"),
        ("grid.binding.first 2027", "expected a comparison operator"),
        ("(grid.binding.first < 2027", r"expected '\)'"),
        ("__import__('os').system('true')", "cannot read"),
        ("grid.binding.first < 2027 lab_a.exited.max", "expected 'and', 'or' or the end"),
        ("   ", "empty"),
    ],
)
def test_bad_outcome_expressions_are_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        select_runs(text, outcomes_table())
    assert "\n" not in str(info.value)


def test_the_reported_box_is_the_widest_that_reaches_the_density_threshold() -> None:
    trajectory = pd.DataFrame(
        {
            "coverage": [1.0, 0.95, 0.9, 0.7, 0.4],
            "density": [0.3, 0.5, 0.82, 0.9, 1.0],
            "res_dim": [0, 1, 1, 2, 2],
        }
    )
    assert choose_step(trajectory, 0.8) == 2
    assert choose_step(trajectory, 1.0) == 4
    assert choose_step(trajectory.iloc[:2], 0.8) == 1, "none reaches the threshold: the densest box"


@pytest.fixture
def synthetic_sweep(tmp_path: Path) -> Path:
    """A sweep folder whose event depends on one parameter only: grid binds when imitation < 0.3.

    The runs are written as a sweep writes them (design, run files, manifest), without the model,
    so that what discovery must find is known exactly.
    """
    scenario = tmp_path / "base.toml"
    shutil.copyfile(SCENARIO_DIR / "baseline.toml", scenario)
    spec = parse_spec(
        {
            "scenario": str(scenario),
            "seed": 11,
            "months": 12,
            "parameters": {
                "adoption.imitation": {"min": 0.1, "max": 0.6},
                "adoption.roi_threshold": {"min": 1.5, "max": 6.0},
            },
            "design": {"kind": "lhs", "samples": 40},
            "outputs": {"metrics": ["grid.binding"], "keep": "summary"},
        }
    )
    out = tmp_path / "sweep"
    design = design_table(spec)
    runs = plan_runs(spec, design)
    digest = spec_hash(spec)
    init_dir(out, spec, digest, design, len(runs))
    with Manifest(out) as manifest:
        for run in runs:
            imitation = design.loc[run.point, "adoption.imitation"]
            binds = imitation < 0.3
            rows = pd.DataFrame(
                {
                    "run_id": run.run_id,
                    "point": run.point,
                    "replicate": run.replicate,
                    "entity": "grid",
                    "metric": "binding",
                    "stat": ["sum", "first", "max"],
                    "value": [6.0 if binds else 0.0, 2026.5 if binds else np.nan, float(binds)],
                }
            )
            result = RunResult(run, "ok", 0.1, table=rows)
            manifest.append(manifest_record(result, {}, digest, write_run(out, result)))
    return out


def test_discovery_finds_the_parameter_that_makes_the_event(synthetic_sweep: Path) -> None:
    result = discover(synthetic_sweep, "grid.binding.first <= 2027")
    assert result.hits == int((design_table_of(synthetic_sweep)["adoption.imitation"] < 0.3).sum())
    boxes = pd.read_csv(result.folder / "boxes.csv")
    assert set(boxes["parameter"]) == {"adoption.imitation"}, "only the parameter that matters is restricted"
    box = boxes.iloc[0]
    assert box["low"] == 0.1 and box["range_low"] == 0.1, "no lower limit: reported at the sweep's bound"
    assert 0.25 <= box["high"] <= 0.35
    assert box["density"] == 1.0 and box["coverage"] == 1.0
    scores = pd.read_csv(result.folder / "feature_scores.csv")
    assert scores.iloc[0]["parameter"] == "adoption.imitation"
    cart = pd.read_csv(result.folder / "cart.csv")
    assert cart.loc[cart["density"] == 1.0, "hits"].sum() == result.hits
    for name in ("prim-tradeoff.png", "prim-trajectory.png", "prim-box-1.png", "cart-tree.png", "feature-scores.png"):
        assert (result.folder / name).stat().st_size > 1000, name
    summary = json.loads((result.folder / "discovery.json").read_text())
    assert summary["outcome"] == "grid.binding.first <= 2027" and summary["runs"] == 40
    page = (synthetic_sweep / "report" / "index.html").read_text()
    assert "Scenario discovery" in page and "../discovery/prim-tradeoff.png" in page


def design_table_of(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "design.parquet")


def test_a_bad_outcome_leaves_an_earlier_discovery_untouched(synthetic_sweep: Path) -> None:
    discover(synthetic_sweep, "grid.binding.sum > 0", report=False)
    before = (synthetic_sweep / "discovery" / "boxes.csv").read_bytes()
    with pytest.raises(InputError, match="unknown outcome"):
        discover(synthetic_sweep, "grid.binding.months_2026 > 0")
    assert (synthetic_sweep / "discovery" / "boxes.csv").read_bytes() == before
    assert sorted(p.name for p in synthetic_sweep.iterdir() if p.name.startswith(".")) == []


SPEC = """
scenario = "baseline"
seed = {seed}
months = 36
set = {{ "simulation.developer_agents" = 200, "suppliers.hbm_maker_1.lead_months" = 30, "suppliers.hbm_maker_2.lead_months" = 30 }}

[parameters."suppliers.hbm_maker_1.pipeline_growth_per_year"]
values = [0.0, 0.6]

[parameters."suppliers.hbm_maker_2.pipeline_growth_per_year"]
values = [0.0, 0.6]

[outputs]
metrics = ["memory.binding"]
keep = "summary"
"""


@pytest.mark.cluster
@pytest.mark.xdist_group("dask")
def test_discover_on_a_real_sweep_from_the_command_line(tmp_path: Path) -> None:
    """With no HBM capacity on order memory binds for 16-18 months of 36; with 60% a year it never
    does (measured over seeds 0-5), so "more than 8 months" splits the runs whatever the seed."""
    seed = int(np.random.default_rng().integers(0, 2**31))
    spec = tmp_path / "memory.toml"
    spec.write_text(SPEC.format(seed=seed))
    out = tmp_path / "out"
    ran = subprocess.run(
        [AGENTMARKET, "sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    found = subprocess.run(
        [AGENTMARKET, "discover", str(out), "--outcome", "memory.binding.sum > 8"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert found.returncode == 0, f"seed {seed}: {found.stderr}"
    assert (out / "discovery" / "boxes.csv").is_file()
    assert any(p.suffix == ".png" for p in (out / "discovery").iterdir())
    bad = subprocess.run(
        [AGENTMARKET, "discover", str(out), "--outcome", "memory.bound.sum > 8"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "unknown outcome 'memory.bound.sum'" in bad.stderr
    assert "memory.binding.{final,mean,min,max,sum,first" in bad.stderr
