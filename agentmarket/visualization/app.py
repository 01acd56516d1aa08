"""The live dashboard: scenario, levers, play/step/reset, key figures and charts of one run.

Every browser session (tab) renders its own :func:`Page`, and all run state lives in hooks
inside it, so two tabs never share a model. Elements carry ``am-…`` classes as stable hooks
for the browser tests.
"""

from __future__ import annotations

import json
import threading
import time
from functools import partial
from typing import Any

import solara
import solara.lab

from agentmarket.output import tidy
from agentmarket.visualization import charts
from agentmarket.visualization.state import (
    DEFAULT_SCENARIO,
    Control,
    ControlError,
    PinnedRun,
    Run,
    build_model,
    controls_for,
    pin,
    scenario_defaults,
    scenario_names,
    validate,
)
from agentmarket.visualization.widgets import VegaView

PLAY_PAUSE_S = 0.12  # pause between months while playing, so the browser can draw each one

CSS = """
.am-figures .am-figure { min-width: 120px; }
.am-figure .am-value { font-size: 1.3em; font-weight: 600; }
.am-figure .am-label { font-size: 0.8em; color: #666; }
.am-control-error { color: #b00020; font-size: 0.8em; margin-top: -6px; margin-bottom: 6px; }
.am-chart { min-width: 470px; min-height: 240px; }
.am-title { font-size: 1.5em; font-weight: 500; }
.am-controls { padding-left: 12px; }
"""


def percent(share: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{100.0 * share:.1f}%"


def usd_run_rate(revenue_usd_per_month: float) -> str:
    """Monthly revenue as an annual run-rate (times 12), in readable USD units."""
    yearly = 12.0 * revenue_usd_per_month
    for divisor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(yearly) >= divisor:
            return f"{yearly / divisor:.2f} {suffix} USD/yr"
    return f"{yearly:.0f} USD/yr"


def new_run(scenario: str, values: dict[str, Any], seed: int) -> Run:
    return Run(build_model(scenario, values, seed), scenario, seed)


def csv_of(run: Run) -> str:
    """The run's tidy table (date, entity, metric, value) as CSV text."""
    try:
        table = tidy(run.model)
    except (ValueError, KeyError):
        return "date,entity,metric,value\n"
    return table.to_csv(index=False)


@solara.component
def Figure(label: str, value: str, hook: str):
    """One key number with its label."""
    with solara.Column(gap="0px", classes=["am-figure", f"am-{hook}"]):
        solara.Text(value, classes=["am-value"])
        solara.Text(label, classes=["am-label"])


@solara.component
def KeyFigures(run: Run, pinned: PinnedRun | None, tick: int):
    """The current month's key numbers; the pinned run's at the same month beside them."""
    last = run.history[-1] if run.history else None
    with solara.Row(classes=["am-figures"], gap="24px", style={"flex-wrap": "wrap"}):
        Figure("month", last["date"] if last else f"{run.model.date} (start)", "date")
        Figure("adoption", percent(last["adoption_share"]) if last else "–", "adoption")
        Figure("agent work share", percent(last["agent_work_share"]) if last else "–", "work-share")
        Figure("compute price", f"{last['compute_price']:.2f} USD/acc-h" if last else "–", "compute-price")
        Figure("binding layer", last["binding_layer"] if last else "–", "binding")
        for lab, values in (last or {}).get("labs", {}).items():
            Figure(
                f"{lab}: revenue run-rate, gross margin",
                f"{usd_run_rate(values['revenue'])}, {percent(values['gross_margin'])}",
                f"lab-{lab}",
            )
    if pinned is not None and last is not None:
        same = next((row for row in pinned.history if row["date"] == last["date"]), None)
        text = (
            f"Pinned ({pinned.label}) at {same['date']}: adoption {percent(same['adoption_share'])}, "
            f"compute {same['compute_price']:.2f} USD/acc-h, binding {same['binding_layer']}"
            if same
            else f"Pinned ({pinned.label}) has no month {last['date']}"
        )
        solara.Text(text, classes=["am-pinned-figures"])


def encode(spec: dict[str, Any]) -> tuple[str, str]:
    """A chart's fixed part and its month-by-month rows, as compact JSON text."""
    frame, datasets = charts.split_datasets(spec)
    return json.dumps(frame, separators=(",", ":")), json.dumps(datasets, separators=(",", ":"))


@solara.component
def Chart(encoded: tuple[str, str], hook: str):
    """A Vega-Lite chart (from :func:`encode`), with a stable class for tests."""
    frame, datasets = encoded
    with solara.Div(classes=["am-chart", f"am-chart-{hook}"]):
        VegaView.element(spec=frame, datasets=datasets)


@solara.component
def Charts(run: Run, pinned: PinnedRun | None, tick: int):
    """Time series, the supply graph and the developer network of the current run."""

    def lay_out_supply_graph():
        return charts.supply_layout(run.model.graph)

    def lay_out_network():
        return charts.network_layout(run.model)

    supply_pos = solara.use_memo(lay_out_supply_graph, [run])
    network = solara.use_memo(lay_out_network, [run])
    history = run.history
    with solara.Row(style={"flex-wrap": "wrap"}, gap="16px"):
        Chart(encode(charts.adoption_chart(history, pinned)), "adoption")
        Chart(encode(charts.revenue_chart(history, pinned)), "revenue")
        Chart(encode(charts.margin_chart(history, pinned)), "margin")
        Chart(encode(charts.prices_chart(history, pinned)), "prices")
        Chart(encode(charts.utilisation_chart(history, pinned)), "utilisation")
        Chart(encode(charts.network_chart(run.model, network)), "network")
        Chart(encode(charts.supply_graph_chart(run.model, supply_pos)), "supply")


@solara.component
def ControlInput(control: Control, value: Any, error: str, on_value):
    """One lever, with the message of a rejected value right below it."""
    label = f"{control.label} ({control.unit})" if control.unit else control.label
    classes = [f"am-control-{control.id}"]
    if control.kind == "choice":
        solara.Select(label, values=list(control.choices), value=value, on_value=on_value, classes=classes)
    elif control.kind == "int":
        solara.InputInt(label, value=value, on_value=on_value, classes=classes)
    else:
        solara.InputFloat(label, value=value, on_value=on_value, classes=classes)
    if error:
        solara.Text(error, classes=["am-control-error", f"am-error-{control.id}"])


@solara.component
def Page():
    """One session's dashboard; every piece of state is created here, per session."""
    scenario = solara.use_reactive(DEFAULT_SCENARIO)

    def first_values():
        return scenario_defaults(DEFAULT_SCENARIO)

    def first_run():
        return new_run(DEFAULT_SCENARIO, first_values(), 0)

    values = solara.use_reactive(solara.use_memo(first_values, []))
    seed = solara.use_reactive(0)
    run = solara.use_reactive(solara.use_memo(first_run, []))
    tick = solara.use_reactive(0)
    playing = solara.use_reactive(False)
    errors = solara.use_reactive({})
    step_error = solara.use_reactive("")
    pinned = solara.use_reactive(None)
    lock = solara.use_memo(threading.Lock, [])

    def advance(while_playing: bool = False) -> bool:
        """Step the run one month; stop playing on the last month or on an error.

        From the play loop (``while_playing``) nothing happens once play was stopped, even
        if Pause or Reset came while this call waited for the lock.
        """
        with lock:
            if while_playing and not playing.value:
                return False
            current = run.value
            try:
                current.step()
            except Exception as exc:
                step_error.set(f"the step to {current.model.date} failed: {type(exc).__name__}: {exc}")
                playing.set(False)
                return False
            finally:
                tick.set(tick.value + 1)
            if current.finished:
                playing.set(False)
            return not current.finished

    def play_loop():
        """While playing, advance a month and pause so the page can draw it."""
        while playing.value and advance(while_playing=True):
            time.sleep(PLAY_PAUSE_S)

    solara.lab.use_task(play_loop, dependencies=[playing.value], prefer_threaded=True)

    def start_run(name: str, new_values: dict[str, Any], new_seed: int) -> bool:
        """Replace the run with a fresh one; on bad input keep the old run and show why."""
        try:
            fresh = new_run(name, new_values, new_seed)
        except ControlError as exc:
            errors.set({**validate(name, new_values), exc.control: exc.message})
            return False
        with lock:
            playing.set(False)
            run.set(fresh)
            errors.set({})
            step_error.set("")
            tick.set(tick.value + 1)
        return True

    def reset():
        start_run(scenario.value, values.value, seed.value)

    def step_once():
        playing.set(False)
        advance()

    def toggle_play():
        if not playing.value and run.value.finished:
            return
        playing.set(not playing.value)

    def pin_run():
        """Keep a copy of the current run's months to draw the live run against."""
        pinned.set(pin(run.value))

    def unpin():
        pinned.set(None)

    def pick_scenario(name: str):
        """A new scenario starts a new run with that scenario's own values in the controls."""
        defaults = scenario_defaults(name)
        if start_run(name, defaults, seed.value):
            scenario.set(name)
            values.set(defaults)

    def check_values(new_values: dict[str, Any]):
        """Show a rejected value beside its control at once; the run changes only on Reset."""
        seed_error = {"seed": errors.value["seed"]} if "seed" in errors.value else {}
        errors.set({**validate(scenario.value, new_values), **seed_error})

    def set_value(control_id: str, value: Any):
        new_values = {**values.value, control_id: value}
        values.set(new_values)
        check_values(new_values)

    def set_seed(value: int | None):
        seed.set(value if value is not None else 0)
        others = {k: v for k, v in errors.value.items() if k != "seed"}
        if value is None or value < 0:
            errors.set({**others, "seed": "the seed must be a whole number, 0 or more"})
        else:
            errors.set(others)

    solara.Style(CSS)
    solara.Title("agentmarket dashboard")
    with solara.Columns([1, 3], classes=["am-dashboard"]):
        ControlsPanel(scenario, values, seed, errors, run, pick_scenario, set_value, set_seed)
        RunPanel(
            run,
            tick,
            playing,
            step_error,
            pinned,
            {"reset": reset, "step": step_once, "play": toggle_play, "pin": pin_run, "unpin": unpin},
        )


@solara.component
def ControlsPanel(scenario, values, seed, errors, run, on_scenario, on_value, on_seed):
    """Scenario picker and levers; re-drawn when they or the run change, not every month."""
    messages = errors.value
    with solara.Column(classes=["am-controls"]):
        solara.Text("agentmarket", classes=["am-title"])
        solara.Select(
            "Scenario", values=scenario_names(), value=scenario.value, on_value=on_scenario, classes=["am-scenario"]
        )
        if messages.get("scenario"):
            solara.Text(messages["scenario"], classes=["am-control-error", "am-error-scenario"])
        for control in controls_for(run.value.model.params):
            ControlInput(
                control,
                values.value.get(control.id),
                messages.get(control.id, ""),
                on_value=partial(on_value, control.id),
            )
        solara.InputInt("Seed", value=seed.value, on_value=on_seed, classes=["am-control-seed"])
        if messages.get("seed"):
            solara.Text(messages["seed"], classes=["am-control-error", "am-error-seed"])
        if messages.get(""):
            solara.Text(messages[""], classes=["am-control-error", "am-error-general"])
        solara.Text("Changed values take effect on Reset.", classes=["am-label"])


@solara.component
def RunPanel(run, tick, playing, step_error, pinned, actions: dict):
    """Buttons, key figures and charts of the live run; the part re-drawn every month."""
    current = run.value
    month = tick.value
    is_playing = playing.value

    def csv_getter():
        """The same callable for the whole run, so the download button is not rebuilt every month."""
        return partial(csv_of, current)

    csv_data = solara.use_memo(csv_getter, [current])
    with solara.Column(classes=["am-main"]):
        with solara.Row(classes=["am-buttons"]):
            solara.Button("Reset", on_click=actions["reset"], classes=["am-reset"], outlined=True)
            solara.Button("Step", on_click=actions["step"], classes=["am-step"], disabled=current.finished)
            solara.Button(
                "Pause" if is_playing else "Play",
                on_click=actions["play"],
                classes=["am-play"],
                color="primary",
                disabled=current.finished and not is_playing,
            )
            solara.Button("Pin this run", on_click=actions["pin"], classes=["am-pin"])
            solara.Button("Unpin", on_click=actions["unpin"], classes=["am-unpin"], disabled=pinned.value is None)
            with solara.Div(classes=["am-download"]):
                solara.FileDownload(
                    csv_data,
                    filename=f"{current.scenario}-seed{current.seed}.csv",
                    label="Download CSV",
                    mime_type="text/csv",
                )
        solara.Text(
            f"Run: {current.label}, {current.model.params.simulation.developer_agents:,} developer agents"
            + ("; playing" if is_playing else ""),
            classes=["am-run-label"],
        )
        if step_error.value:
            solara.Error(step_error.value, classes=["am-step-error"])
        KeyFigures(current, pinned.value, month)
        Charts(current, pinned.value, month)
