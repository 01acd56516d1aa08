"""The dashboard's run state and chart specs, without a browser."""

from __future__ import annotations

import json

import pytest

from agentmarket.visualization import charts
from agentmarket.visualization.state import (
    ControlError,
    Run,
    build_model,
    pin,
    scenario_defaults,
    validate,
)

SMALL = {"developers": 500}


def test_unchanged_controls_add_no_overrides():
    defaults = scenario_defaults("baseline")
    model = build_model("baseline", defaults, seed=0)
    assert model.params.simulation.developer_agents == defaults["developers"]


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
    rows = specs[0]["data"]["values"]
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
