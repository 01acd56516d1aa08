"""The dashboard's run state and chart specs, without a browser."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agentmarket.scenarios import load_scenario
from agentmarket.visualization import charts
from agentmarket.visualization.state import (
    MAX_ENSEMBLE_RUNS,
    POSTERIOR_ENV,
    ControlError,
    Event,
    Run,
    build_ensemble,
    build_model,
    build_params,
    drawn_controls,
    events,
    overrides_for,
    pin,
    read_key,
    read_posterior,
    scenario_defaults,
    scenario_names,
    validate,
)

SMALL = {"developers": 500}


@pytest.mark.parametrize("scenario", scenario_names())
def test_unchanged_controls_add_no_overrides(scenario):
    """Controls left at the scenario's values override nothing, so the scenario runs as written
    (a layer whose suppliers differ keeps each supplier's own value)."""
    base = load_scenario(scenario)
    assert overrides_for(base, scenario_defaults(scenario)) == ({}, {})
    assert build_params(scenario, scenario_defaults(scenario)) == load_scenario(
        scenario, {"simulation.collect_data": True}
    )


def test_a_changed_control_overrides_only_its_own_keys():
    base = load_scenario("baseline")
    values = {**scenario_defaults("baseline"), "grid_growth": 0.7}
    grid = [name for name, s in base.suppliers.items() if s.layer.value == "grid"]
    overrides, owner = overrides_for(base, values)
    assert grid and overrides == {f"suppliers.{name}.expansion_per_year": 0.7 for name in grid}
    assert set(owner.values()) == {"grid_growth"}


def test_a_rejected_value_names_its_control():
    with pytest.raises(ControlError) as err:
        build_model("baseline", {**SMALL, "grid_growth": -1.0}, seed=0)
    assert err.value.control == "grid_growth"
    assert "expansion_per_year" in err.value.message


def test_every_bad_control_gets_its_own_message():
    messages = validate("baseline", {"grid_growth": -1.0, "developers": 0, "step_size": 0.1})
    assert set(messages) == {"grid_growth", "developers"}


def test_a_run_records_one_snapshot_per_month():
    run = Run(build_model("baseline", SMALL, seed=1), "baseline", 1)
    for _ in range(3):
        run.step()
    assert [row["date"] for row in run.history] == ["2023-01", "2023-02", "2023-03"]
    assert set(run.history[-1]["layers"]) == {"memory", "packaging", "power", "grid"}


def test_chart_specs_are_json_and_carry_the_pinned_run():
    run = Run(build_model("baseline", SMALL, seed=2), "baseline", 2)
    run.step()
    pinned = pin(run)
    run.step()
    specs = [
        charts.adoption_chart(run.history, pinned),
        charts.revenue_chart(run.history, pinned),
        charts.margin_chart(run.history, pinned),
        charts.prices_chart(run.history, pinned),
        charts.utilisation_chart(run.history, pinned),
        charts.supply_graph_chart(run.model, charts.supply_layout(run.model.graph)),
        charts.network_chart(run.model, charts.network_layout(run.model, size=50)),
    ]
    text = json.dumps(specs)
    assert "pinned: baseline seed 2" in text
    rows = charts.split_datasets(specs[0])[1]["table"]
    assert {row["run"] for row in rows} == {"live", "pinned: baseline seed 2"}


def test_supply_graph_edges_carry_flow_and_binding():
    run = Run(build_model("baseline", SMALL, seed=0), "baseline", 0)
    run.step()
    nodes, edges = charts.supply_graph_data(run.model, charts.supply_layout(run.model.graph))
    assert {n["id"] for n in nodes} >= {"cowos", "grid", "developers"}
    assert all(e["flow"] >= 0 for e in edges)
    assert all(0 <= e["utilisation"] <= 1.0 + 1e-9 for e in edges)


def test_a_failing_step_shows_the_error_and_keeps_the_page(monkeypatch):
    import ipyvuetify as v
    import solara

    from agentmarket.visualization.app import Page
    from agentmarket.visualization.state import Run as RunState

    def broken_step(self):
        raise RuntimeError("no capacity left to clear")

    _box, rc = solara.render(Page(), handle_error=False)
    monkeypatch.setattr(RunState, "step", broken_step)
    rc.find(v.Btn, children=["Step"]).widget.click()
    alerts = [w for w in rc.find(v.Alert).widgets if "am-step-error" in (w.class_ or "")]
    assert len(alerts) == 1
    assert "no capacity left to clear" in str(alerts[0].children)
    assert rc.find(v.Btn, children=["Play"]).widget is not None


# ----- ensemble mode ------------------------------------------------------------------------------
def test_an_ensemble_steps_its_runs_together_with_consecutive_seeds():
    ensemble = build_ensemble("baseline", SMALL, seed=4, size=3)
    for _ in range(2):
        ensemble.step()
    assert [run.seed for run in ensemble.runs] == [4, 5, 6]
    assert [len(h) for h in ensemble.histories] == [2, 2, 2]
    assert len({run.model.params.simulation.developer_agents for run in ensemble.runs}) == 1
    wages = {run.model.developers.wage_usd_per_day.tobytes() for run in ensemble.runs}
    assert len(wages) == 3, "runs with different seeds drew the same developers"
    ensemble.select(2)
    assert ensemble.run.seed == 6 and "seed 6 (selected) of 3 runs" in ensemble.label


@pytest.mark.parametrize("size", [0, MAX_ENSEMBLE_RUNS + 1])
def test_an_ensemble_size_outside_1_to_20_names_the_control(size):
    with pytest.raises(ControlError) as err:
        build_ensemble("baseline", SMALL, seed=0, size=size)
    assert err.value.control == "runs" and f"from 1 to {MAX_ENSEMBLE_RUNS}" in err.value.message


def test_selecting_a_run_outside_the_ensemble_is_refused():
    ensemble = build_ensemble("baseline", SMALL, seed=0, size=2)
    with pytest.raises(ControlError, match="between 1 and 2"):
        ensemble.select(2)
    assert ensemble.selected == 0


def test_the_band_is_the_median_and_5_95_range_over_the_runs():
    """Checked at the first month in which the runs' lab_a revenue differs (early months can be
    the same in every seed: revenue from outside coding is the same rule for all)."""
    ensemble = build_ensemble("baseline", SMALL, seed=0, size=5)
    for _ in range(24):
        ensemble.step()
        values = np.array([h[-1]["labs"]["lab_a"]["revenue"] for h in ensemble.histories])
        if np.ptp(values) > 0:
            break
    assert np.ptp(values) > 0, "five seeds gave the same lab_a revenue for two years"
    date = f"{ensemble.histories[0][-1]['date']}-01"
    rows = charts.band_rows(ensemble.histories, charts.lab_field("revenue"))
    last = [r for r in rows if r["date"] == date and r["series"] == "lab_a"]
    assert len(last) == 1
    assert last[0]["median"] == pytest.approx(np.median(values))
    assert last[0]["lo"] == pytest.approx(np.percentile(values, 5))
    assert last[0]["hi"] == pytest.approx(np.percentile(values, 95))
    assert values.min() <= last[0]["lo"] < last[0]["hi"] <= values.max()


def test_one_run_draws_no_band_and_several_do():
    one = build_ensemble("baseline", SMALL, seed=0, size=1)
    one.step()
    assert "band" not in charts.split_datasets(charts.adoption_chart(one.run.history, None, ()))[1]
    several = build_ensemble("baseline", SMALL, seed=0, size=3)
    several.step()
    data = charts.split_datasets(charts.adoption_chart(several.run.history, None, several.histories))[1]
    assert {row["series"] for row in data["band"]} == {"adoption", "agent work share"}


def _month(date: str, rounds: int = 0, exited: int = 0, memory: int = 0) -> dict:
    lab = {"revenue": 1.0, "gross_margin": 0.1, "cash": 1.0, "funding": 0.0, "funding_rounds": rounds, "exited": exited}
    return {"date": date, "labs": {"lab_b": lab}, "layers": {"memory": {"utilization": 1.0, "binding": memory}}}


def test_events_are_rounds_exits_and_a_layer_starting_and_stopping_to_bind():
    history = [
        _month("2030-01", rounds=2),
        _month("2030-02", rounds=3, memory=1),
        _month("2030-03", rounds=3, memory=1),
        _month("2030-04", rounds=3, exited=1),
        _month("2030-05", rounds=3, exited=1),
    ]
    assert events(history) == [
        Event("2030-02", "funding round", "lab_b", "lab_b raises a round"),
        Event("2030-02", "binding starts", "memory", "memory starts binding"),
        Event("2030-04", "exit", "lab_b", "lab_b leaves the market (cash ran out)"),
        Event("2030-04", "binding stops", "memory", "memory stops binding"),
    ]


def test_events_appear_on_the_charts_they_concern():
    history = [_month("2030-01"), _month("2030-02", exited=1, memory=1)]
    found = events(history)
    revenue = charts.split_datasets(charts.revenue_chart(history, None, (), found))[1]["events"]
    utilisation = charts.split_datasets(charts.utilisation_chart(history, None, (), found))[1]["events"]
    assert [e["text"] for e in revenue] == ["lab_b leaves the market (cash ran out)"]
    assert [e["text"] for e in utilisation] == ["memory starts binding"]


def test_each_price_panel_has_its_unit_and_several_ticks():
    run = Run(build_model("baseline", SMALL, seed=0), "baseline", 0)
    run.step()
    spec = charts.prices_chart(run.history)
    titles, ticks = [], []
    for panel in spec["vconcat"]:
        line = next(layer for layer in panel["layer"] if layer["mark"]["type"] == "line")
        titles.append(line["encoding"]["y"]["title"])
        ticks.append(line["encoding"]["y"]["axis"]["tickCount"])
        assert panel["height"] >= 50
    assert titles == ["USD/month", "USD/acc-hour", "USD per acc's HBM"]
    assert min(ticks) >= 3


def test_supply_graph_edges_draw_the_clearings_own_flows():
    run = Run(build_model("baseline", SMALL, seed=0), "baseline", 0)
    run.step()
    model = run.model
    _nodes, edges = charts.supply_graph_data(model, charts.supply_layout(model.graph))
    drawn = {e["link"]: e["flow"] for e in edges}
    for (u, v), flow in model.edge_flows.items():
        if f"{u} → {v}" in drawn:
            assert drawn[f"{u} → {v}"] == flow
    for cloud in model.clouds:
        out = sum(f for (u, _v), f in model.edge_flows.items() if u == cloud.name)
        assert out == pytest.approx(cloud.served, rel=1e-12)
    for lab in model.labs:
        assert drawn[f"{lab.name} → developers"] == pytest.approx(lab.served)
        into = sum(f for (_u, v), f in model.edge_flows.items() if v == lab.name)
        assert into == pytest.approx(lab.served, rel=1e-9)


# ----- explore results ----------------------------------------------------------------------------
def test_explore_opens_a_batch_folder_with_fans_over_its_runs(tmp_path):
    from agentmarket.cli import main
    from agentmarket.visualization.explore import open_results

    out = tmp_path / "batch"
    args = ["batch", "--seeds", "3", "--months", "3", "--set", "simulation.developer_agents=100", "--out", str(out)]
    assert main(args) == 0
    found = open_results(out)
    assert found.kind == "batch" and found.boxes is None
    assert "market.adoption_share" in found.fans
    rows = found.fans["market.adoption_share"]
    assert len(rows) == 3 and all(r["lo"] <= r["median"] <= r["hi"] for r in rows)


def test_explore_reads_a_comparison_and_the_discovery_boxes(tmp_path):
    from agentmarket.visualization.explore import open_results

    (tmp_path / "discovery").mkdir()
    (tmp_path / "discovery" / "boxes.csv").write_text("box,coverage,density\n1,0.8,0.9\n")
    (tmp_path / "compare.csv").write_text(
        "scenario,date,entity,metric,median,p05,p95,mean,seeds\n"
        "baseline,2023-01-01,market,adoption_share,0.1,0.05,0.2,0.1,4\n"
        "hbm-shock,2023-01-01,market,adoption_share,0.2,0.1,0.3,0.2,4\n"
    )
    found = open_results(tmp_path)
    assert found.kind == "compare"
    assert [r["series"] for r in found.fans["market.adoption_share"]] == ["baseline", "hbm-shock"]
    assert found.boxes is not None and list(found.boxes.columns) == ["box", "coverage", "density"]


@pytest.mark.parametrize("folder", ["", "missing", "empty"])
def test_explore_refuses_a_folder_without_results_in_one_line(tmp_path, folder):
    from agentmarket.errors import InputError
    from agentmarket.visualization.explore import open_results

    (tmp_path / "empty").mkdir()
    path = "" if folder == "" else str(tmp_path / folder)
    with pytest.raises(InputError) as err:
        open_results(path)
    assert "\n" not in str(err.value) and ("sweep" in str(err.value))


# ----- ensemble mode over posterior draws --------------------------------------------------------
PARTICLES = 8


def posterior_file(path, particles: int = PARTICLES):
    """Particles at the baseline's values of every free parameter, each with its own imitation and step size."""
    from agentmarket.calibration.calibrate import load_free_parameters

    base = load_scenario("baseline")
    rows = [
        {
            **{p.key: float(read_key(base, p.key)) for p in load_free_parameters()},
            "adoption.imitation": 0.2 + 0.04 * i,
            "capability.step_size": 0.05 + 0.01 * i,
        }
        for i in range(particles)
    ]
    pd.DataFrame(rows).assign(weight=1.0 / particles).to_parquet(path, index=False)
    return path


def test_runs_built_with_a_posterior_carry_the_draws_of_their_seeds(tmp_path):
    from agentmarket.calibration.posterior import load_posterior

    posterior = load_posterior(posterior_file(tmp_path / "posterior.parquet"))
    ensemble = build_ensemble("baseline", SMALL, seed=3, size=8, posterior=posterior)
    assert [run.seed for run in ensemble.runs] == list(range(3, 11))
    for run in ensemble.runs:
        assert run.drawn == posterior.draw(run.seed)
        assert {key: read_key(run.model.params, key) for key in run.drawn} == run.drawn
        assert run.model.params.simulation.developer_agents == SMALL["developers"], "the controls were dropped"
    imitation = {run.drawn["adoption.imitation"] for run in ensemble.runs}
    assert len(imitation) > 1, "every run drew the same particle"
    assert all(any(abs(v - (0.2 + 0.04 * i)) < 1e-12 for i in range(PARTICLES)) for v in imitation)
    assert "parameter and seed uncertainty" in ensemble.uncertainty
    assert "posterior.parquet" in ensemble.uncertainty and f"{PARTICLES} particles" in ensemble.uncertainty
    for _ in range(2):
        ensemble.step()
    assert [len(h) for h in ensemble.histories] == [2] * 8


def test_dashboard_run_k_has_the_parameters_of_batchs_run_with_that_seed(tmp_path, capsys):
    from agentmarket.calibration.posterior import load_posterior
    from agentmarket.cli import main
    from agentmarket.experiments import read_manifest

    post = posterior_file(tmp_path / "posterior.parquet")
    out = tmp_path / "batch"
    args = ["batch", "--posterior", str(post), "--seeds", "3", "--months", "1", "--workers", "1", "--quiet"]
    assert main([*args, "--set", "simulation.developer_agents=50", "--out", str(out)]) == 0, capsys.readouterr().err
    posterior = load_posterior(post)
    manifest = read_manifest(out)
    assert len(manifest) == 3
    for seed, batch_params in zip(manifest["seed"], manifest["params"], strict=True):
        (run,) = build_ensemble("baseline", {"developers": 50}, seed=int(seed), size=1, posterior=posterior).runs
        assert run.drawn and {key: batch_params[key] for key in run.drawn} == pytest.approx(run.drawn)


def test_without_a_posterior_every_run_has_the_same_parameters_and_draws_nothing():
    ensemble = build_ensemble("baseline", SMALL, seed=0, size=3)
    assert ensemble.posterior is None and ensemble.uncertainty == "seed uncertainty"
    assert all(run.drawn == {} for run in ensemble.runs)
    assert all(run.model.params == build_params("baseline", SMALL) for run in ensemble.runs)
    assert read_posterior("") is None and read_posterior(None) is None


def test_a_control_the_posterior_draws_is_marked_as_drawn(tmp_path):
    posterior = read_posterior(posterior_file(tmp_path / "posterior.parquet"))
    params = load_scenario("baseline")
    assert "step_size" in drawn_controls(params, posterior)
    assert "developers" not in drawn_controls(params, posterior)
    assert drawn_controls(params, None) == set()


def test_the_page_started_with_a_posterior_says_what_the_band_carries_and_shows_the_draws(tmp_path, monkeypatch):
    import ipyvuetify as v
    import solara
    from solara.widgets import HTML

    from agentmarket.visualization.app import Page

    post = posterior_file(tmp_path / "posterior.parquet")
    monkeypatch.setenv(POSTERIOR_ENV, str(post))
    _box, rc = solara.render(Page(), handle_error=False)
    texts = [w.children for w in rc.find(v.Html).widgets if "am-posterior-caption" in (w.class_ or "")]
    assert len(texts) == 1 and "parameter and seed uncertainty" in str(texts[0])
    assert "posterior.parquet" in str(texts[0]) and f"{PARTICLES} particles" in str(texts[0])
    tables = [w.unsafe_innerHTML for w in rc.find(HTML).widgets if "am-drawn" in w.attributes.get("class", "")]
    drawn = read_posterior(post).draw(0)
    assert len(tables) == 1 and all(key in tables[0] for key in drawn)
    assert f"{drawn['adoption.imitation']:.4g}" in tables[0]


def test_the_server_runs_with_allocators_that_give_closed_sessions_memory_back(monkeypatch):
    from agentmarket.visualization.server import server_environment

    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    env = server_environment()
    assert env["PYTHONMALLOC"] == "malloc"
    assert env["MALLOC_ARENA_MAX"] == "1"


def test_allocator_settings_in_the_environment_are_kept(monkeypatch):
    from agentmarket.visualization.server import server_environment

    monkeypatch.setenv("PYTHONMALLOC", "pymalloc")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    env = server_environment()
    assert (env["PYTHONMALLOC"], env["MALLOC_ARENA_MAX"]) == ("pymalloc", "4")
