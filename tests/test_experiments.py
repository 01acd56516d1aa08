"""Sweep specs, designs, seeds and the results folder, without a cluster."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agentmarket.errors import InputError
from agentmarket.experiments import design_table, load_spec, parse_spec, plan_runs, run_seed, spec_hash
from agentmarket.experiments.design import Run
from agentmarket.experiments.runner import RunResult, RunTask, execute_run, summarise
from agentmarket.experiments.spec import Keep, base_raw, select_metrics
from agentmarket.experiments.store import (
    Manifest,
    check_dir,
    finished_ids,
    init_dir,
    manifest_record,
    read_manifest,
    read_manifest_lines,
    write_run,
)
from agentmarket.scenarios import SCENARIO_DIR

AGENTMARKET = str(Path(sys.executable).parent / "agentmarket")


@pytest.fixture
def scenario(tmp_path: Path) -> str:
    """A private copy of the baseline scenario, so that edits elsewhere do not change the sweep."""
    path = tmp_path / "base.toml"
    shutil.copyfile(SCENARIO_DIR / "baseline.toml", path)
    return str(path)


def spec_dict(scenario: str, **extra) -> dict:
    doc = {
        "scenario": scenario,
        "months": 12,
        "set": {"simulation.developer_agents": 200},
        "parameters": {"adoption.imitation": {"values": [0.2, 0.4]}},
    }
    doc.update(extra)
    return doc


def test_unknown_parameter_key_is_named_with_the_allowed_keys(scenario: str) -> None:
    data = spec_dict(scenario, parameters={"adoption.imitatoin": {"min": 0.1, "max": 0.5}})
    with pytest.raises(InputError, match=r"unknown key 'adoption.imitatoin'.*imitation, innovation"):
        parse_spec(data)


def test_a_range_outside_the_parameters_bounds_is_refused(scenario: str) -> None:
    data = spec_dict(scenario, parameters={"adoption.imitation": {"min": 0.1, "max": 9.0}})
    with pytest.raises(InputError, match=r"adoption.imitation"):
        parse_spec(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"design": {"kind": "sobol"}}, "sobol"),
        ({"design": {"kind": "annealing"}}, "design.kind"),
        ({"outputs": {"metrics": ["market.nothing"]}}, "no metric 'nothing'"),
        ({"outputs": {"metrics": ["moon.price"]}}, "no entity 'moon'"),
        ({"replicates": 0}, "replicates"),
        ({"parameters": {"adoption.imitation": {"min": 0.5, "max": 0.1}}}, "min"),
        ({"colour": "blue"}, "unknown key 'colour'"),
    ],
)
def test_bad_specs_raise_one_line(scenario: str, change: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_spec(spec_dict(scenario, **change))
    assert "\n" not in str(info.value)


def test_cli_bad_spec_exits_2_with_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('scenario = "baseline"\n[parameters."market.nonsense"]\nmin = 0\nmax = 1\n')
    proc = subprocess.run(
        [AGENTMARKET, "sweep", str(spec), "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "unknown key 'market.nonsense'" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_scheduler_that_does_not_answer_exits_2(tmp_path: Path, scenario: str) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = tmp_path / "s.toml"
    spec.write_text(f'scenario = "{scenario}"\nmonths = 6\n[parameters."adoption.imitation"]\nvalues = [0.1, 0.2]\n')
    proc = subprocess.run(
        [AGENTMARKET, "sweep", str(spec), "--out", str(tmp_path / "out"), "--scheduler", f"tcp://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("agentmarket: error: --scheduler")
    assert not (tmp_path / "out").exists()


def test_load_spec_reads_the_shipped_example() -> None:
    spec = load_spec(Path(__file__).parents[1] / "examples" / "sweep-imitation.toml")
    assert spec.design.kind == "sobol"
    assert len(design_table(spec)) == spec.design.samples * (len(spec.parameters) + 2)


def test_grid_is_the_full_factorial(scenario: str) -> None:
    spec = parse_spec(
        spec_dict(
            scenario,
            replicates=3,
            parameters={
                "adoption.imitation": {"values": [0.2, 0.3, 0.4]},
                "labs.lab_a.booking_lead_months": {"min": 2, "max": 8, "levels": 4},
            },
        )
    )
    design = design_table(spec)
    assert len(design) == 12
    assert sorted(design["labs.lab_a.booking_lead_months"].unique()) == [2, 4, 6, 8]
    assert len(plan_runs(spec, design)) == 36


@pytest.mark.parametrize(("kind", "per_sample"), [("sobol", 4), ("morris", 3), ("lhs", None)])
def test_sampled_designs_stay_in_range_and_round_integers(scenario: str, kind: str, per_sample: int | None) -> None:
    spec = parse_spec(
        spec_dict(
            scenario,
            design={"kind": kind, "samples": 8},
            parameters={
                "adoption.imitation": {"min": 0.1, "max": 0.5},
                "labs.lab_a.booking_lead_months": {"min": 1, "max": 12},
            },
        )
    )
    design = design_table(spec)
    assert len(design) == (8 * per_sample if per_sample else 8)
    assert design["adoption.imitation"].between(0.1, 0.5).all()
    leads = design["labs.lab_a.booking_lead_months"]
    assert leads.between(1, 12).all()
    assert all(isinstance(v, int) for v in leads.tolist())
    if kind == "lhs":  # one sample in each of the 8 strata of every parameter
        strata = np.floor((design["adoption.imitation"] - 0.1) / 0.4 * 8).clip(0, 7)
        assert sorted(strata.astype(int)) == list(range(8))


def test_log_scale_spaces_levels_evenly_in_the_logarithm(scenario: str) -> None:
    spec = parse_spec(
        spec_dict(
            scenario, parameters={"market.developer_population": {"min": 1e6, "max": 1e8, "levels": 3, "scale": "log"}}
        )
    )
    assert design_table(spec)["market.developer_population"].tolist() == pytest.approx([1e6, 1e7, 1e8])


def test_seeds_depend_on_run_identity_only(scenario: str) -> None:
    small = parse_spec(spec_dict(scenario, replicates=2, seed=7))
    large = parse_spec(spec_dict(scenario, replicates=5, seed=7))
    seeds_small = {r.run_id: r.seed for r in plan_runs(small, design_table(small))}
    seeds_large = {r.run_id: r.seed for r in plan_runs(large, design_table(large))}
    assert all(seeds_large[k] == v for k, v in seeds_small.items())
    assert len(set(seeds_large.values())) == len(seeds_large)
    other = parse_spec(spec_dict(scenario, replicates=2, seed=8))
    assert run_seed(other, 0, 0) != run_seed(small, 0, 0)


def test_common_random_numbers_share_seeds_across_points(scenario: str) -> None:
    spec = parse_spec(spec_dict(scenario, replicates=2, common_random_numbers=True))
    runs = plan_runs(spec, design_table(spec))
    by_rep = {}
    for run in runs:
        by_rep.setdefault(run.replicate, set()).add(run.seed)
    assert [len(s) for s in by_rep.values()] == [1, 1]
    assert by_rep[0] != by_rep[1]


def test_spec_hash_ignores_description_but_not_design(scenario: str) -> None:
    base = parse_spec(spec_dict(scenario))
    assert spec_hash(base) == spec_hash(parse_spec(spec_dict(scenario, description="another text")))
    assert spec_hash(base) != spec_hash(parse_spec(spec_dict(scenario, replicates=2)))


def _task(scenario: str, keep: Keep, overrides: dict | None = None) -> RunTask:
    spec = parse_spec(spec_dict(scenario, outputs={"metrics": ["market.adoption_share", "lab_*.revenue"]}))
    from agentmarket.experiments.spec import base_params

    metrics = tuple(select_metrics(spec.outputs.metrics, base_params(spec)))
    return RunTask(Run("p000000-r0000", 0, 0, 3), base_raw(spec), overrides or {}, metrics, keep)


def test_a_run_keeps_the_chosen_metrics(scenario: str) -> None:
    series = execute_run(_task(scenario, Keep.SERIES))
    assert series.status == "ok"
    assert set(zip(series.table["entity"], series.table["metric"], strict=True)) == {
        ("market", "adoption_share"),
        ("lab_a", "revenue"),
        ("lab_b", "revenue"),
    }
    assert series.table["date"].nunique() == 12
    summary = execute_run(_task(scenario, Keep.SUMMARY))
    assert summary.status == "ok"
    pd.testing.assert_frame_equal(summary.table, summarise(series.table))
    final = series.table[series.table["metric"] == "adoption_share"].sort_values("date")["value"].iloc[-1]
    got = summary.table.query("metric == 'adoption_share' and stat == 'final'")["value"].item()
    assert got == final


def test_a_run_that_raises_comes_back_failed_with_its_error(scenario: str) -> None:
    result = execute_run(_task(scenario, Keep.SERIES, {"adoption.imitation": -1.0}))
    assert result.status == "failed"
    assert result.table is None
    assert "imitation" in result.error
    assert "\n" not in result.error


def test_folder_rules(tmp_path: Path, scenario: str) -> None:
    spec = parse_spec(spec_dict(scenario))
    design = design_table(spec)
    digest = spec_hash(spec)
    out = tmp_path / "sweep"
    assert check_dir(out, digest, 2, resume=False) is False
    init_dir(out, spec, digest, design, 2)
    with pytest.raises(InputError, match="pass --resume"):
        check_dir(out, digest, 2, resume=False)
    assert check_dir(out, digest, 2, resume=True) is True
    with pytest.raises(InputError, match="different sweep"):
        check_dir(out, "0" * 16, 2, resume=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        check_dir(tmp_path / "other", digest, 2, resume=True)


def test_manifest_survives_a_line_cut_short(tmp_path: Path, scenario: str) -> None:
    out = tmp_path / "sweep"
    (out / "runs").mkdir(parents=True)
    ok = execute_run(_task(scenario, Keep.SUMMARY))
    failed = RunResult(Run("p000001-r0000", 1, 0, 9), "failed", 0.1, error="ValueError: boom")
    with Manifest(out) as manifest:
        for result in (ok, failed):
            manifest.append(manifest_record(result, {"adoption.imitation": 0.2}, "abc", write_run(out, result)))
    with open(out / "manifest.jsonl", "a") as fh:  # a kill in the middle of a line
        fh.write('{"run_id": "p000002-r0000", "sta')
    with Manifest(out) as manifest:
        manifest.append({"run_id": "p000003-r0000", "status": "ok"})
    lines = read_manifest_lines(out)
    assert [line["run_id"] for line in lines] == ["p000000-r0000", "p000001-r0000", "p000003-r0000"]
    assert finished_ids(out) == {"p000000-r0000", "p000003-r0000"}
    first = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert first["seed"] == 3 and first["status"] == "ok" and first["file"] == "runs/p000000-r0000.parquet"
    assert lines[1]["error"] == "ValueError: boom" and lines[1]["file"] == ""
    assert not any(p.name.endswith(".tmp") for p in (out / "runs").iterdir())
    assert math.isfinite(first["runtime_s"])


def test_the_manifest_table_shows_each_runs_latest_record(tmp_path: Path) -> None:
    """A run that failed and then succeeded on a resume has two lines: the table keeps the
    latest, so reports see it as finished, once."""
    out = tmp_path / "sweep"
    out.mkdir()
    with Manifest(out) as manifest:
        manifest.append({"run_id": "p000001-r0000", "status": "failed", "error": "ValueError: boom"})
        manifest.append({"run_id": "p000000-r0000", "status": "ok", "error": None})
    with Manifest(out) as manifest:  # the resume
        manifest.append({"run_id": "p000001-r0000", "status": "ok", "error": None})
    table = read_manifest(out)
    assert table["run_id"].tolist() == ["p000000-r0000", "p000001-r0000"]
    assert table["status"].tolist() == ["ok", "ok"]
    assert table["error"].isna().all()


def test_kept_rows_equal_the_tidy_table_cut(scenario: str) -> None:
    """A run's kept rows, read straight from the collected data, are the full tidy table cut to them."""
    from agentmarket.experiments.runner import cut_tidy, kept_rows
    from agentmarket.model import MarketModel
    from agentmarket.output import tidy
    from agentmarket.scenarios import load_scenario

    model = MarketModel(load_scenario(scenario, ["simulation.months=8", "simulation.developer_agents=200"]), rng=5)
    model.run()
    params = model.params
    lab, cloud = next(iter(params.labs)), list(params.clouds)[-1]
    for patterns in (
        ["market.*", "memory.price", "grid.*"],
        [f"{lab}.*", "market.adoption_share", f"{cloud}.compute_price"],
        [f"{cloud}.*", f"{lab}.revenue", "packaging.binding"],
    ):
        metrics = tuple(select_metrics(patterns, params))
        pd.testing.assert_frame_equal(kept_rows(model, metrics), cut_tidy(tidy(model), metrics))


def test_an_interrupted_sweep_resumes_without_rerunning_finished_runs(tmp_path: Path, scenario: str) -> None:
    """Resume on local processes: only the runs without a manifest line run again, and the results
    equal those of the uninterrupted sweep."""
    from agentmarket.experiments import read_results, run_sweep
    from agentmarket.experiments.store import MANIFEST_FILE, run_path

    spec = parse_spec(
        spec_dict(
            scenario,
            seed=5,
            replicates=3,
            outputs={"metrics": ["market.adoption_share", "lab_a.revenue"], "keep": "series"},
        )
    )
    out = tmp_path / "out"
    assert run_sweep(spec, out, workers=1, progress=False).ok == 6
    expected = read_results(out).sort_values(["run_id", "date", "entity", "metric"], ignore_index=True)

    # the state a kill leaves: three runs recorded, one written but not recorded, one manifest
    # line cut short, the rest never started
    lines = read_manifest_lines(out)
    kept, written, rest = lines[:3], lines[3], lines[4:]
    manifest = out / MANIFEST_FILE
    manifest.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in kept) + json.dumps(written)[:40])
    for record in rest:
        run_path(out, record["run_id"]).unlink()
    finished = {r["run_id"]: run_path(out, r["run_id"]).stat().st_mtime_ns for r in kept}

    with pytest.raises(InputError, match="--resume"):
        run_sweep(spec, out, workers=1, progress=False)
    outcome = run_sweep(spec, out, workers=1, resume=True, progress=False)
    assert (outcome.skipped, outcome.ok, outcome.failed) == (3, 3, 0)
    after = read_manifest_lines(out)
    assert after[:3] == kept, "the finished runs' lines were rewritten"
    assert sorted(r["run_id"] for r in after[3:]) == sorted(r["run_id"] for r in [written, *rest])
    assert {rid: run_path(out, rid).stat().st_mtime_ns for rid in finished} == finished, "a finished run ran again"
    got = read_results(out).sort_values(["run_id", "date", "entity", "metric"], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
