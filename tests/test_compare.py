"""`agentmarket compare`: scenarios side by side over seeds, a figure and a table of bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import agentmarket.experiments.compare as compare_mod
from agentmarket.cli import main
from agentmarket.experiments.compare import FIGURE_NAME, SUMMARY_COLUMNS, TABLE_NAME, compare_scenarios, summarise

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--seeds", "2", "--months", "12", "--developers", "500", "--workers", "1"]


def test_compare_cli_writes_a_png_and_a_csv_of_bands(tmp_path, capsys):
    out = tmp_path / "new" / "folder"
    assert main(["compare", "baseline", "hbm-shock", *TINY, "--out", str(out)]) == 0
    assert (out / FIGURE_NAME).read_bytes()[:8] == PNG_MAGIC
    table = pd.read_csv(out / TABLE_NAME, parse_dates=["date"])
    assert tuple(table.columns) == SUMMARY_COLUMNS
    assert list(table["scenario"].unique()) == ["baseline", "hbm-shock"]
    assert (table["seeds"] == 2).all()
    assert table.groupby("scenario")["date"].nunique().tolist() == [12, 12]
    assert (table["p05"] <= table["median"] + 1e-9).all() and (table["median"] <= table["p95"] + 1e-9).all()
    keys = set(zip(table["entity"], table["metric"], strict=True))
    for key in [("market", "adoption_share"), ("lab_a", "revenue"), ("lab_b", "gross_margin"), ("grid", "binding")]:
        assert key in keys
    binding = table[table["metric"] == "binding"]["mean"]
    assert binding.between(0, 1).all()
    assert sorted(p.name for p in out.iterdir()) == sorted([FIGURE_NAME, TABLE_NAME]), "temporary files left behind"


def test_summary_statistics_are_over_seeds():
    rows = [
        {"scenario": s, "seed": seed, "date": pd.Timestamp("2023-01-01"), "entity": "market", "metric": "x", "value": v}
        for s, values in (("a", range(21)), ("b", [0.0, 1.0]))
        for seed, v in enumerate(values)
    ]
    summary = summarise(pd.DataFrame(rows)).set_index("scenario")
    assert summary.loc["a", "median"] == 10 and summary.loc["a", "seeds"] == 21
    assert summary.loc["a", "p05"] == pytest.approx(1.0) and summary.loc["a", "p95"] == pytest.approx(19.0)
    assert summary.loc["b", "mean"] == 0.5, "the mean of a 0/1 flag is the share of seeds"


def test_unknown_scenario_is_one_line_and_exit_2_before_any_run(tmp_path, capsys, monkeypatch):
    def no_runs(*_args, **_kwargs):
        raise AssertionError("a run started before the scenarios were checked")

    monkeypatch.setattr(compare_mod, "run_one", no_runs)
    out = tmp_path / "out"
    assert main(["compare", "baseline", "no-such-scenario", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-scenario" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["compare"],
        ["compare", "baseline", "baseline"],
        ["compare", "baseline", "--seeds", "0"],
        ["compare", "baseline", "--workers", "0"],
        ["compare", "baseline", "--months", "0"],
        ["compare", "baseline", "--set", "adoption.nope=1"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compare_mod, "run_one", lambda *a, **k: pytest.fail("ran despite bad input"))
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep")
    assert main(["compare", "baseline", *TINY, "--out", str(target)]) == 2
    assert target.read_text() == "keep"


def test_nothing_is_half_written_when_the_figure_fails(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / TABLE_NAME).write_text("earlier table")

    def broken(_summary, path, title=""):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(compare_mod, "plot_comparison", broken)
    with pytest.raises(RuntimeError):
        compare_scenarios(["baseline"], seeds=1, out=out, months=3, developers=200)
    assert sorted(p.name for p in out.iterdir()) == [TABLE_NAME]
    assert (out / TABLE_NAME).read_text() == "earlier table"


def test_parallel_runs_give_the_same_table(tmp_path):
    kwargs = {"seeds": 2, "months": 3, "developers": 100}
    serial = compare_scenarios(["baseline", "price-war"], out=tmp_path / "a", workers=1, **kwargs).summary
    parallel = compare_scenarios(["baseline", "price-war"], out=tmp_path / "b", workers=2, **kwargs).summary
    pd.testing.assert_frame_equal(serial, parallel)
    assert np.isfinite(serial["median"]).all()
