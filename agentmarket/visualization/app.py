"""The live dashboard: scenario, levers, play/step/reset, key figures and charts of an ensemble.

The live view steps 1 to 20 runs of the same parameters together (seeds ``seed``,
``seed + 1``, ...): every chart shows their median with a 5-95% band and the selected run on
top, and the selected run's events (a lab's round or exit, a layer that starts or stops
binding) are marked on the charts and listed. The "Explore results" view opens a finished
sweep, batch or compare folder.

Every browser session (tab) renders its own :func:`Page`, and all run state lives in hooks
inside it, so two tabs never share a model. Elements carry ``am-…`` classes as stable hooks
for the browser tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import html
import json
import os
import threading
import time
from functools import partial
from typing import Any

import solara
import solara.lab

from agentmarket.errors import InputError
from agentmarket.output import tidy
from agentmarket.visualization import charts
from agentmarket.visualization.explore import Explored, open_results
from agentmarket.visualization.state import (
    DEFAULT_SCENARIO,
    MAX_ENSEMBLE_RUNS,
    POSTERIOR_ENV,
    Control,
    ControlError,
    Ensemble,
    PinnedRun,
    Run,
    build_ensemble,
    controls_for,
    drawn_controls,
    events,
    pin,
    read_posterior,
    scenario_defaults,
    scenario_names,
    validate,
)
from agentmarket.visualization.widgets import VegaView

PLAY_PAUSE_S = 0.12  # pause between months while playing, so the browser can draw each one
RELEASE_DELAY_S = 2.0
"""Seconds after a session closes before its memory is handed back (solara collects it first)."""


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the operating system.

    glibc returns freed memory inside its heap only on ``malloc_trim``, so without it a closed
    session's models stay in the server's resident memory; the server's allocator settings
    (:data:`agentmarket.visualization.server.ALLOCATOR_ENVIRONMENT`) put Python's objects and
    every thread in the one heap this trims. Elsewhere than glibc only the collection runs.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def release_memory_later() -> None:
    """Run :func:`release_memory` shortly, off the closing thread."""
    timer = threading.Timer(RELEASE_DELAY_S, release_memory)
    timer.daemon = True
    timer.start()


CSS = """
.am-figures .am-figure { min-width: 120px; }
.am-figure .am-value { font-size: 1.3em; font-weight: 600; }
.am-figure .am-label { font-size: 0.8em; color: #666; }
.am-control-error { color: #b00020; font-size: 0.8em; margin-top: -6px; margin-bottom: 6px; }
.am-chart { min-width: 470px; min-height: 240px; }
.am-title { font-size: 1.5em; font-weight: 500; }
.am-controls { padding-left: 12px; }
.am-drawn table { border-collapse: collapse; font-size: 0.85em; }
.am-drawn td, .am-drawn th { padding: 1px 10px 1px 0; text-align: left; }
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


def new_ensemble(scenario: str, values: dict[str, Any], seed: int, size: int = 1, posterior_path: str = "") -> Ensemble:
    """The runs the page steps together, drawing from the posterior file when one is given.

    :class:`ControlError` names the control to blame ("posterior" for a bad file).
    """
    return build_ensemble(scenario, values, seed, size, read_posterior(posterior_path, scenario))


def start_posterior_path() -> str:
    """The posterior file the page starts with: ``agentmarket viz --posterior`` sets it; empty for none."""
    return os.environ.get(POSTERIOR_ENV, "").strip()


def drawn_table_html(drawn: dict[str, Any]) -> str:
    """The selected run's drawn parameters as a small HTML table (parameter, value)."""
    rows = "".join(f"<tr><td>{html.escape(key)}</td><td>{value:.4g}</td></tr>" for key, value in sorted(drawn.items()))
    return f"<table><tr><th>parameter</th><th>drawn value</th></tr>{rows}</table>"


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


EVENTS_SHOWN = 8


@solara.component
def EventList(run: Run, tick: int):
    """The selected run's latest events, newest first, so a jump on a chart has its reason beside it."""
    found = events(run.history)
    with solara.Column(gap="0px", classes=["am-events"]):
        solara.Text(f"Events of the selected run ({len(found)})", classes=["am-label"])
        for event in reversed(found[-EVENTS_SHOWN:]):
            solara.Text(f"{event.date}: {event.text}", classes=["am-event", f"am-event-{event.kind.replace(' ', '-')}"])


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
def Charts(ensemble: Ensemble, pinned: PinnedRun | None, tick: int):
    """Time series over the ensemble's band, the supply graph and the developer network of the selected run."""
    run = ensemble.run

    def lay_out_supply_graph():
        return charts.supply_layout(run.model.graph)

    def lay_out_network():
        return charts.network_layout(run.model)

    supply_pos = solara.use_memo(lay_out_supply_graph, [run])
    network = solara.use_memo(lay_out_network, [run])
    history = run.history
    band = ensemble.histories if ensemble.size > 1 else ()
    marks = events(history)
    with solara.Row(style={"flex-wrap": "wrap"}, gap="16px"):
        Chart(encode(charts.adoption_chart(history, pinned, band)), "adoption")
        Chart(encode(charts.revenue_chart(history, pinned, band, marks)), "revenue")
        Chart(encode(charts.margin_chart(history, pinned, band, marks)), "margin")
        Chart(encode(charts.prices_chart(history, pinned, band, marks)), "prices")
        Chart(encode(charts.utilisation_chart(history, pinned, band, marks)), "utilisation")
        Chart(encode(charts.network_chart(run.model, network)), "network")
        Chart(encode(charts.supply_graph_chart(run.model, supply_pos)), "supply")


@solara.component
def ControlInput(control: Control, value: Any, error: str, on_value, drawn: bool = False):
    """One lever, with the message of a rejected value right below it.

    A lever whose parameters each run draws from the loaded posterior (``drawn``) is disabled
    and says so, since its value would be replaced.
    """
    label = f"{control.label} ({control.unit})" if control.unit else control.label
    classes = [f"am-control-{control.id}"]
    if control.kind == "choice":
        solara.Select(
            label, values=list(control.choices), value=value, on_value=on_value, classes=classes, disabled=drawn
        )
    elif control.kind == "int":
        solara.InputInt(label, value=value, on_value=on_value, classes=classes, disabled=drawn)
    else:
        solara.InputFloat(label, value=value, on_value=on_value, classes=classes, disabled=drawn)
    if drawn:
        solara.Text("drawn from the posterior in each run", classes=["am-label", f"am-drawn-{control.id}"])
    if error:
        solara.Text(error, classes=["am-control-error", f"am-error-{control.id}"])


@solara.component
def Page():
    """One session's dashboard: the live ensemble and the explorer of finished results, in two tabs."""
    solara.Style(CSS)
    solara.Title("agentmarket dashboard")
    with solara.lab.Tabs():
        with solara.lab.Tab("Live model", classes=["am-tab-live"]):
            LiveView()
        with solara.lab.Tab("Explore results", classes=["am-tab-explore"]):
            ExploreView()


@solara.component
def LiveView():
    """The live ensemble; every piece of state is created here, per session."""
    scenario = solara.use_reactive(DEFAULT_SCENARIO)

    def first_values():
        return scenario_defaults(DEFAULT_SCENARIO)

    def first_ensemble():
        return new_ensemble(DEFAULT_SCENARIO, first_values(), 0)

    def first_start():
        """The first runs, from the posterior of the command line when it loads; without it otherwise."""
        path = start_posterior_path()
        try:
            return new_ensemble(DEFAULT_SCENARIO, first_values(), 0, 1, path), {}
        except ControlError as exc:
            return first_ensemble(), {exc.control: exc.message}

    start, start_errors = solara.use_memo(first_start, [])
    values = solara.use_reactive(solara.use_memo(first_values, []))
    seed = solara.use_reactive(0)
    size = solara.use_reactive(1)
    posterior_path = solara.use_reactive(start_posterior_path())
    ensemble = solara.use_reactive(start)
    tick = solara.use_reactive(0)
    playing = solara.use_reactive(False)
    errors = solara.use_reactive(start_errors)
    step_error = solara.use_reactive("")
    pinned = solara.use_reactive(None)
    lock = solara.use_memo(threading.Lock, [])

    def advance(while_playing: bool = False) -> bool:
        """Step every run one month; stop playing on the last month or on an error.

        From the play loop (``while_playing``) nothing happens once play was stopped, even
        if Pause or Reset came while this call waited for the lock.
        """
        with lock:
            if while_playing and not playing.value:
                return False
            current = ensemble.value
            try:
                current.step()
            except Exception as exc:
                step_error.set(f"the step to {current.run.model.date} failed: {type(exc).__name__}: {exc}")
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

    def free_on_close():
        """When the session closes (its tab closed), stop playing and give the models' memory back."""

        def cleanup():
            playing.set(False)
            with lock:
                ensemble.value.close()
            release_memory_later()

        return cleanup

    solara.use_effect(free_on_close, [])

    def start_ensemble(name: str, new_values: dict[str, Any], new_seed: int, new_size: int) -> bool:
        """Replace the runs with fresh ones; on bad input keep the old runs and show why."""
        try:
            fresh = new_ensemble(name, new_values, new_seed, new_size, posterior_path.value)
        except ControlError as exc:
            errors.set({**validate(name, new_values), exc.control: exc.message})
            return False
        with lock:
            playing.set(False)
            ensemble.set(fresh)
            errors.set({})
            step_error.set("")
            tick.set(tick.value + 1)
        return True

    def reset():
        """Start fresh runs from the controls; a rejected seed or number of runs keeps the runs (and its message)."""
        if any(control in errors.value for control in ("seed", "runs")):
            return
        start_ensemble(scenario.value, values.value, seed.value, size.value)

    def step_once():
        playing.set(False)
        advance()

    def toggle_play():
        if not playing.value and ensemble.value.finished:
            return
        playing.set(not playing.value)

    def pin_run():
        """Keep a copy of the selected run's months to draw the live runs against."""
        pinned.set(pin(ensemble.value.run))

    def unpin():
        pinned.set(None)

    def pick_scenario(name: str):
        """A new scenario starts new runs with that scenario's own values in the controls."""
        defaults = scenario_defaults(name)
        if start_ensemble(name, defaults, seed.value, size.value):
            scenario.set(name)
            values.set(defaults)

    def check_values(new_values: dict[str, Any]):
        """Show a rejected value beside its control at once; the runs change only on Reset."""
        kept = {k: errors.value[k] for k in ("seed", "runs", "posterior") if k in errors.value}
        errors.set({**validate(scenario.value, new_values), **kept})

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

    def set_size(value: int | None):
        """How many runs step together from the next Reset (1 to MAX_ENSEMBLE_RUNS)."""
        others = {k: v for k, v in errors.value.items() if k != "runs"}
        if value is None or not 1 <= value <= MAX_ENSEMBLE_RUNS:
            errors.set({**others, "runs": f"the number of runs must be a whole number from 1 to {MAX_ENSEMBLE_RUNS}"})
            return
        size.set(value)
        errors.set(others)

    def set_posterior(path: str | None):
        """The posterior file for the next Reset (empty: none); a bad file is named beside the field at once."""
        posterior_path.set((path or "").strip())
        others = {k: v for k, v in errors.value.items() if k != "posterior"}
        try:
            read_posterior(posterior_path.value, scenario.value)
        except ControlError as exc:
            errors.set({**others, "posterior": exc.message})
            return
        errors.set(others)

    def select_run(value: int | None):
        """Draw run ``value`` (1-based) on top of the band at once."""
        current = ensemble.value
        others = {k: v for k, v in errors.value.items() if k != "selected"}
        try:
            with lock:
                current.select((value or 0) - 1)
        except ControlError as exc:
            errors.set({**others, "selected": exc.message})
            return
        errors.set(others)
        tick.set(tick.value + 1)

    with solara.Columns([1, 3], classes=["am-dashboard"]):
        ControlsPanel(
            scenario,
            values,
            seed,
            size,
            posterior_path,
            errors,
            ensemble,
            {
                "scenario": pick_scenario,
                "value": set_value,
                "seed": set_seed,
                "size": set_size,
                "posterior": set_posterior,
            },
        )
        RunPanel(
            ensemble,
            tick,
            playing,
            step_error,
            pinned,
            errors,
            {
                "reset": reset,
                "step": step_once,
                "play": toggle_play,
                "pin": pin_run,
                "unpin": unpin,
                "select": select_run,
            },
        )


@solara.component
def ControlsPanel(scenario, values, seed, size, posterior_path, errors, ensemble, on: dict):
    """Scenario picker and levers; re-drawn when they or the runs change, not every month.

    ``on`` holds the callbacks of the scenario, a lever ("value"), the seed, the number of runs
    and the posterior file.
    """
    messages = errors.value
    params = ensemble.value.run.model.params
    drawn = drawn_controls(params, ensemble.value.posterior)
    with solara.Column(classes=["am-controls"]):
        solara.Text("agentmarket", classes=["am-title"])
        solara.Select(
            "Scenario", values=scenario_names(), value=scenario.value, on_value=on["scenario"], classes=["am-scenario"]
        )
        if messages.get("scenario"):
            solara.Text(messages["scenario"], classes=["am-control-error", "am-error-scenario"])
        for control in controls_for(params):
            ControlInput(
                control,
                values.value.get(control.id),
                messages.get(control.id, ""),
                on_value=partial(on["value"], control.id),
                drawn=control.id in drawn,
            )
        solara.InputInt("Seed", value=seed.value, on_value=on["seed"], classes=["am-control-seed"])
        if messages.get("seed"):
            solara.Text(messages["seed"], classes=["am-control-error", "am-error-seed"])
        solara.InputInt(
            f"Runs stepping together (seeds from the seed on, 1-{MAX_ENSEMBLE_RUNS})",
            value=size.value,
            on_value=on["size"],
            classes=["am-control-runs"],
        )
        if messages.get("runs"):
            solara.Text(messages["runs"], classes=["am-control-error", "am-error-runs"])
        solara.InputText(
            "Posterior file (posterior.parquet of a calibration; empty: none)",
            value=posterior_path.value,
            on_value=on["posterior"],
            classes=["am-control-posterior"],
        )
        if messages.get("posterior"):
            solara.Text(messages["posterior"], classes=["am-control-error", "am-error-posterior"])
        if messages.get(""):
            solara.Text(messages[""], classes=["am-control-error", "am-error-general"])
        solara.Text("Changed values take effect on Reset.", classes=["am-label"])


@solara.component
def RunPanel(ensemble, tick, playing, step_error, pinned, errors, actions: dict):
    """Buttons, key figures and charts of the live runs; the part re-drawn every month."""
    current = ensemble.value
    run = current.run
    month = tick.value
    is_playing = playing.value

    def csv_getter():
        """The same callable for the whole run, so the download button is not rebuilt every month."""
        return partial(csv_of, run)

    csv_data = solara.use_memo(csv_getter, [run])
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
                    filename=f"{run.scenario}-seed{run.seed}.csv",
                    label="Download CSV",
                    mime_type="text/csv",
                )
            if current.size > 1:
                solara.InputInt(
                    f"Selected run (1-{current.size})",
                    value=current.selected + 1,
                    on_value=actions["select"],
                    classes=["am-control-selected"],
                )
        if errors.value.get("selected"):
            solara.Text(errors.value["selected"], classes=["am-control-error", "am-error-selected"])
        solara.Text(
            f"Run: {current.label}, {run.model.params.simulation.developer_agents:,} developer agents"
            + (
                f"; charts: median and 5-95% band of {current.size} runs, selected run on top"
                if current.size > 1
                else ""
            )
            + ("; playing" if is_playing else ""),
            classes=["am-run-label"],
        )
        if current.posterior is not None:
            DrawnParameters(current, run)
        if step_error.value:
            solara.Error(step_error.value, classes=["am-step-error"])
        KeyFigures(run, pinned.value, month)
        EventList(run, month)
        Charts(current, pinned.value, month)


@solara.component
def DrawnParameters(ensemble: Ensemble, run: Run):
    """What the band carries with a posterior loaded, and the free parameters the selected run drew."""

    def tabulate():
        return drawn_table_html(run.drawn)

    table = solara.use_memo(tabulate, [run])
    caption = f"Band of {ensemble.size} runs: {ensemble.uncertainty}" if ensemble.size > 1 else ensemble.uncertainty
    solara.Text(caption, classes=["am-label", "am-posterior-caption"])
    solara.Text(f"Drawn by {run.label}:", classes=["am-label"])
    solara.HTML(tag="div", unsafe_innerHTML=table, classes=["am-drawn"])


@solara.component
def ExploreView():
    """A finished sweep, batch or compare folder: its fan charts, sensitivity indices and PRIM boxes."""
    folder = solara.use_reactive("")
    explored = solara.use_reactive(None)
    error = solara.use_reactive("")

    def open_folder():
        try:
            found = open_results(folder.value)
        except (InputError, OSError, ValueError) as exc:
            error.set(str(exc))
            return
        error.set("")
        explored.set(found)

    with solara.Column(classes=["am-explore"]):
        with solara.Row():
            solara.InputText(
                "Results folder (the --out of sweep, batch or compare)",
                value=folder,
                classes=["am-explore-folder"],
                continuous_update=True,
            )
            solara.Button("Open", on_click=open_folder, classes=["am-explore-open"], color="primary")
        if error.value:
            solara.Text(error.value, classes=["am-control-error", "am-explore-error"])
        if explored.value is not None:
            ExploredResults(explored.value)


@solara.component
def ExploredResults(found: Explored):
    """The tables and fan charts of one opened folder."""
    with solara.Column(classes=["am-explored"]):
        solara.Text(f"{found.kind}: {found.folder}", classes=["am-title", "am-explored-title"])
        solara.DataFrame(found.facts, items_per_page=10)
        for note in found.notes:
            solara.Text(note, classes=["am-label", "am-explore-note"])
        with solara.Row(style={"flex-wrap": "wrap"}, gap="16px", classes=["am-fans"]):
            for i, (output, rows) in enumerate(found.fans.items()):
                Chart(encode(charts.fan_chart(output, rows)), f"fan-{i}")
        if not found.sensitivity.empty:
            solara.Text("Sensitivity indices", classes=["am-title"])
            with solara.Div(classes=["am-sensitivity"]):
                solara.DataFrame(found.sensitivity.round(4), items_per_page=20)
        solara.Text("Scenario discovery (PRIM boxes)", classes=["am-title"])
        if found.boxes is None:
            solara.Text(
                "No boxes yet: run agentmarket discover on this folder.", classes=["am-label", "am-boxes-missing"]
            )
        else:
            with solara.Div(classes=["am-boxes"]):
                solara.DataFrame(found.boxes, items_per_page=20)
