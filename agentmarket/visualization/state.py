"""What the dashboard knows about a run, kept apart from how it is drawn.

The controls are described once (:data:`CONTROLS`): which parameters each one sets, its
unit, and how to read its default from a scenario. A new run is built from a scenario plus
the controls that differ from that scenario's values, through ``load_scenario`` so the same
validation as on the command line applies; a rejected value comes back as a
:class:`ControlError` naming the control, so the page can show the message beside it.

Each month the page records a :func:`snapshot` of the model: a flat dict of plain numbers
for the charts and the key figures, so drawing never reads the model while it steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from agentmarket.calibration.posterior import Posterior, load_posterior, posterior_jobs
from agentmarket.errors import InputError
from agentmarket.metrics import unit_of
from agentmarket.model import MarketModel
from agentmarket.params import Params
from agentmarket.scenarios import list_scenarios, load_scenario

DEFAULT_SCENARIO = "baseline"
MAX_DASHBOARD_DEVELOPERS = 200_000
PRICING_POLICIES = ("hold", "cost_plus", "adaptive", "undercut")
LAYERS = ("memory", "packaging", "power", "grid")


class ControlError(ValueError):
    """A control's value the model cannot run with; ``control`` is the control's id ('' for the page)."""

    def __init__(self, control: str, message: str) -> None:
        super().__init__(message)
        self.control = control
        self.message = message


def _suppliers_in(params: Params, layer: str) -> list[str]:
    return [name for name, s in params.suppliers.items() if getattr(s.layer, "value", s.layer) == layer]


def _reference_plan(params: Params, lab: str) -> str:
    spec = params.labs[lab]
    return spec.reference_plan if spec.reference_plan in spec.plans else next(iter(spec.plans))


@dataclass(frozen=True)
class Control:
    """One lever on the page.

    ``keys(params)`` lists the dotted parameter keys it sets (all get the same value);
    ``kind`` is "int", "float" or "choice"; ``unit`` is shown beside the label.
    """

    id: str
    label: str
    unit: str
    kind: str
    keys: Callable[[Params], list[str]]
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def default(self, params: Params) -> Any:
        """The scenario's value for this control (the first key's value when several)."""
        keys = self.keys(params)
        return read_key(params, keys[0]) if keys else None


def read_key(params: Params, dotted: str) -> Any:
    """The value at a dotted parameter key, e.g. ``labs.lab_a.plans.max.price_usd_per_month``."""
    node: Any = params
    for part in dotted.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return getattr(node, "value", node)


def developer_keys(params: Params) -> list[str]:
    """Parameter keys the developer-agent control sets."""
    return ["simulation.developer_agents"]


def pricing_policy_keys(params: Params) -> list[str]:
    """Parameter keys the pricing-policy control sets (one per lab)."""
    return [f"labs.{lab}.pricing_policy" for lab in params.labs]


def capability_step_keys(params: Params) -> list[str]:
    """Parameter keys the capability-step control sets."""
    return ["capability.step_size"]


def layer_keys(layer: str, field_name: str) -> Callable[[Params], list[str]]:
    """Keys of one field on every supplier of a layer (e.g. memory makers' expansion_per_year)."""

    def keys(params: Params) -> list[str]:
        return [f"suppliers.{name}.{field_name}" for name in _suppliers_in(params, layer)]

    keys.__name__ = f"{layer}_{field_name}_keys"
    return keys


def lab_price_keys(lab: str) -> Callable[[Params], list[str]]:
    """Key of a lab's reference plan price (USD/month); none when the scenario lacks the lab."""

    def keys(params: Params) -> list[str]:
        if lab not in params.labs:
            return []
        return [f"labs.{lab}.plans.{_reference_plan(params, lab)}.price_usd_per_month"]

    keys.__name__ = f"{lab}_price_keys"
    return keys


BASE_CONTROLS: tuple[Control, ...] = (
    Control("developers", "Developer agents", "agents", "int", developer_keys, minimum=1),
    Control("pricing_policy", "Pricing policy (all labs)", "", "choice", pricing_policy_keys, PRICING_POLICIES),
    Control("memory_growth", "Memory capacity growth", "1/year", "float", layer_keys("memory", "expansion_per_year")),
    Control("memory_lead", "Memory lead time", "months", "int", layer_keys("memory", "lead_months")),
    Control("grid_growth", "Grid capacity growth", "1/year", "float", layer_keys("grid", "expansion_per_year")),
    Control("grid_lead", "Grid lead time", "months", "int", layer_keys("grid", "lead_months")),
    Control("step_size", "Capability step size", "share of work", "float", capability_step_keys),
)


def controls_for(params: Params) -> list[Control]:
    """The page's controls for a scenario: the fixed levers plus one plan price per lab."""
    prices = [
        Control(f"price_{lab}", f"{lab} plan price", "USD/month", "float", lab_price_keys(lab)) for lab in params.labs
    ]
    return [c for c in (*BASE_CONTROLS, *prices) if c.keys(params)]


@cache
def _bundled_names() -> tuple[str, ...]:
    return tuple(name for name, _ in list_scenarios())


def scenario_names() -> list[str]:
    """Bundled scenario names for the picker (read from disk once per process)."""
    return list(_bundled_names())


def scenario_defaults(scenario: str) -> dict[str, Any]:
    """Each control's value in ``scenario``, keyed by control id."""
    params = load_scenario(scenario, [])
    return {c.id: c.default(params) for c in controls_for(params)}


def overrides_for(scenario_params: Params, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Dotted-key overrides for the controls whose value differs from the scenario's.

    Returns the overrides and, for each key, the control that set it (to place messages).
    Unchanged controls add nothing, so a scenario whose suppliers differ keeps its own values.
    """
    overrides: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for control in controls_for(scenario_params):
        if control.id not in values or values[control.id] is None:
            continue
        value = values[control.id]
        if value == control.default(scenario_params):
            continue
        for key in control.keys(scenario_params):
            overrides[key] = value
            owner[key] = control.id
    return overrides, owner


def _control_of(message: str, owner: dict[str, str]) -> str:
    for key in sorted(owner, key=len, reverse=True):
        if key in message:
            return owner[key]
    return ""


def control_overrides(scenario: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The page's overrides of ``scenario`` and the control that set each key; :class:`ControlError` if bad."""
    try:
        base = load_scenario(scenario, [])
    except InputError as exc:
        raise ControlError("scenario", str(exc)) from None
    developers = values.get("developers")
    if developers is not None and not 1 <= int(developers) <= MAX_DASHBOARD_DEVELOPERS:
        raise ControlError(
            "developers", f"developer agents must be between 1 and {MAX_DASHBOARD_DEVELOPERS:,} on the dashboard"
        )
    overrides, owner = overrides_for(base, values)
    overrides["simulation.collect_data"] = True  # the CSV download needs the collected table
    return overrides, owner


def build_params(scenario: str, values: dict[str, Any]) -> Params:
    """Validated parameters for ``scenario`` with the controls' values; raises :class:`ControlError`."""
    overrides, owner = control_overrides(scenario, values)
    try:
        return load_scenario(scenario, overrides)
    except (InputError, ValueError) as exc:
        raise ControlError(_control_of(str(exc), owner), str(exc)) from None


def validate(scenario: str, values: dict[str, Any]) -> dict[str, str]:
    """Messages for every rejected control, keyed by control id ('' when no single control is to blame).

    Each changed control is checked on its own, so two bad values both get their message.
    """
    try:
        build_params(scenario, values)
    except ControlError as exc:
        whole = exc
    else:
        return {}
    messages: dict[str, str] = {}
    for control_id, value in values.items():
        try:
            build_params(scenario, {control_id: value})
        except ControlError as exc:
            messages[exc.control or control_id] = exc.message
    return messages or {whole.control: whole.message}


def check_seed(seed: Any) -> None:
    """Refuse a seed that is not a whole number, 0 or more (a :class:`ControlError` of the seed control)."""
    if not isinstance(seed, int) or seed < 0:
        raise ControlError("seed", "the seed must be a whole number, 0 or more")


def build_model(scenario: str, values: dict[str, Any], seed: int) -> MarketModel:
    """A new model for the page, or :class:`ControlError` with a message for the right place."""
    check_seed(seed)
    params = build_params(scenario, values)
    try:
        return MarketModel(params, rng=seed)
    except (InputError, ValueError) as exc:
        raise ControlError("", f"the model cannot start with these values: {exc}") from None


SNAPSHOT_MARKET_METRICS = ("adoption_share", "agent_work_share", "subscription_price", "compute_price", "memory_price")
"""Market metrics the dashboard shows each month (names from :mod:`agentmarket.metrics`)."""
SNAPSHOT_LAB_METRICS = ("revenue", "gross_margin", "cash", "funding")
"""Lab metrics the dashboard shows each month, as numbers."""
SNAPSHOT_LAB_COUNTS = ("funding_rounds", "exited")
"""Lab metrics the dashboard shows each month as whole numbers (a count, and 1 once a lab has left)."""


def _number(obj: Any, entity: str, name: str) -> float:
    """Metric ``name`` of an ``entity`` kind read from ``obj``.

    A metric missing from the registry or from the object raises: a renamed metric must not
    show as 0.
    """
    unit_of(entity, name)
    return float(getattr(obj, name))


def _layer_number(stats: dict[str, float], name: str) -> float:
    """Layer metric ``name`` from a layer's month statistics; a metric missing from either raises."""
    unit_of("layer", name)
    return float(stats[name])


def simulated_month(model: MarketModel) -> str:
    """The model's month: the last of the ``model.steps`` months it has simulated (YYYY-MM).

    Mesa counts the steps taken; the month shown with the results is the one those steps
    reached, so the label and the figures beside it always belong to the same month.
    """
    from agentmarket.params import month_label

    return month_label(model.params.start_index + model.steps - 1)


def snapshot(model: MarketModel) -> dict[str, Any]:
    """The month just simulated as plain numbers.

    Shares are fractions, revenue and cash USD/month and USD, prices USD/month (subscription),
    USD/accelerator-hour (compute) and USD per accelerator's HBM (memory). ``exited`` is 1 once
    a lab has left the market; ``funding_rounds`` counts the rounds it has raised so far.
    """
    row: dict[str, Any] = {
        "date": simulated_month(model),
        **{name: _number(model, "market", name) for name in SNAPSHOT_MARKET_METRICS},
        "binding_layer": str(model.binding_layer),
        "labs": {
            lab.name: {
                **{name: _number(lab, "lab", name) for name in SNAPSHOT_LAB_METRICS},
                **{name: int(_number(lab, "lab", name)) for name in SNAPSHOT_LAB_COUNTS},
            }
            for lab in model.labs
        },
        "layers": {
            layer: {"utilization": _layer_number(stats, "utilization"), "binding": int(_layer_number(stats, "binding"))}
            for layer, stats in model.layer_stats.items()
        },
    }
    return row


@dataclass(frozen=True)
class Event:
    """Something a reader should see on the charts: a lab exits, a layer starts or stops binding, a round."""

    date: str
    kind: str  # "exit" | "binding starts" | "binding stops" | "funding round"
    entity: str
    text: str


def events(history: Sequence[dict[str, Any]]) -> list[Event]:
    """The events of a run's months, in order, found by comparing each month with the one before.

    A lab's funding round is a month in which its round count rose; an exit the month its
    ``exited`` flag turned on; a layer starts binding in a month it is on the minimum cut and
    was not the month before, and stops in the first month it is off it again.
    """
    found: list[Event] = []
    before: dict[str, Any] | None = None
    for row in history:
        date = row["date"]
        for lab, now in row.get("labs", {}).items():
            was = (before or {}).get("labs", {}).get(lab, {"exited": 0, "funding_rounds": now["funding_rounds"]})
            if now["funding_rounds"] > was["funding_rounds"]:
                found.append(Event(date, "funding round", lab, f"{lab} raises a round"))
            if now["exited"] and not was["exited"]:
                found.append(Event(date, "exit", lab, f"{lab} leaves the market (cash ran out)"))
        for layer, now in row.get("layers", {}).items():
            was_binding = (before or {}).get("layers", {}).get(layer, {}).get("binding", 0)
            if now["binding"] and not was_binding:
                found.append(Event(date, "binding starts", layer, f"{layer} starts binding"))
            elif was_binding and not now["binding"]:
                found.append(Event(date, "binding stops", layer, f"{layer} stops binding"))
        before = row
    return found


@dataclass
class Run:
    """One model on the page and the months it has recorded."""

    model: MarketModel
    scenario: str
    seed: int
    history: list[dict[str, Any]] = field(default_factory=list)
    drawn: dict[str, Any] = field(default_factory=dict)
    """The free parameters this run drew from a posterior (dotted key: value); empty without one."""

    @property
    def label(self) -> str:
        """The run's name on the page: scenario and seed."""
        return f"{self.scenario} seed {self.seed}"

    @property
    def finished(self) -> bool:
        """True once the model has run its last month."""
        return not self.model.running

    def step(self) -> dict[str, Any]:
        """Advance one month and record it; returns the new snapshot."""
        self.model.step()
        row = snapshot(self.model)
        self.history.append(row)
        return row


@dataclass(frozen=True)
class PinnedRun:
    """A frozen copy of a run's history to compare the live run against."""

    label: str
    history: tuple[dict[str, Any], ...]


def pin(run: Run) -> PinnedRun:
    """A frozen copy of a run's months, to draw other runs against."""
    return PinnedRun(run.label, tuple(run.history))


MAX_ENSEMBLE_RUNS = 20


@dataclass
class Ensemble:
    """Runs of one scenario that step together, so that the charts show a band, not one path.

    The runs differ in their seed (``seed``, ``seed + 1``, ...) and, with a ``posterior``, in
    the free parameters each run drew from it by its seed (as ``batch --posterior`` draws them),
    so the band carries parameter as well as seed uncertainty. ``selected`` is the run drawn on
    top of the band, whose figures and events the page shows; the first by default.
    """

    runs: list[Run]
    selected: int = 0
    posterior: Posterior | None = None

    @property
    def run(self) -> Run:
        """The selected run."""
        return self.runs[self.selected]

    @property
    def size(self) -> int:
        """How many runs step together."""
        return len(self.runs)

    @property
    def finished(self) -> bool:
        """Whether every run has reached its last month."""
        return all(run.finished for run in self.runs)

    @property
    def histories(self) -> list[list[dict[str, Any]]]:
        """Each run's recorded months, in the order of ``runs``."""
        return [run.history for run in self.runs]

    @property
    def label(self) -> str:
        """The selected run's label, with the ensemble's size when there is more than one run."""
        if self.size == 1:
            return self.run.label
        first, last = self.runs[0].seed, self.runs[-1].seed
        return f"{self.run.label} (selected) of {self.size} runs, seeds {first}-{last}"

    @property
    def uncertainty(self) -> str:
        """What the band spans: seeds alone, or posterior draws and seeds (naming the file and its particles)."""
        if self.posterior is None:
            return "seed uncertainty"
        particles = len(self.posterior.table)
        return (
            "parameter and seed uncertainty: each run's free parameters drawn by its seed from "
            f"{Path(self.posterior.path).name or 'the posterior'} ({particles:,} particle{'s' * (particles != 1)})"
        )

    def step(self) -> dict[str, Any]:
        """Advance every run one month; returns the selected run's new snapshot."""
        for run in self.runs:
            if not run.finished:
                run.step()
        return self.run.history[-1]

    def close(self) -> None:
        """Drop every run and its model, so that a closed session's memory goes at once.

        A closed page's widgets and callbacks may still hold this object for a while; once it
        holds no run, they hold no model.
        """
        for run in self.runs:
            run.history.clear()
            run.model = None  # type: ignore[assignment]

    def select(self, index: int) -> None:
        """Draw run ``index`` (0-based) on top; out-of-range indices are refused."""
        if not 0 <= index < self.size:
            raise ControlError("selected", f"the selected run must be between 1 and {self.size}")
        self.selected = index


POSTERIOR_ENV = "AGENTMARKET_POSTERIOR"
"""Environment variable with the posterior file the dashboard starts with (``agentmarket viz --posterior``)."""


def read_posterior(path: str | Path | None, scenario: str = DEFAULT_SCENARIO) -> Posterior | None:
    """The posterior at ``path`` (none for an empty path), checked against ``scenario``'s parameters.

    A file that is missing, not parquet, without ``weight`` or a free parameter's column, or
    with a particle the scenario rejects is a :class:`ControlError` of the "posterior" control.
    """
    if path is None or not str(path).strip():
        return None
    try:
        posterior = load_posterior(str(path).strip())
        posterior.check(load_raw_scenario(scenario))
    except InputError as exc:
        raise ControlError("posterior", str(exc).removeprefix("--posterior ")) from None
    return posterior


def load_raw_scenario(scenario: str) -> dict[str, Any]:
    """A scenario's raw parameters; a bad scenario is a :class:`ControlError` of the scenario picker."""
    from agentmarket.scenarios import load_raw

    try:
        return load_raw(scenario)
    except InputError as exc:
        raise ControlError("scenario", str(exc)) from None


def drawn_controls(params: Params, posterior: Posterior | None) -> set[str]:
    """Ids of the controls whose every key a posterior draws, so that the control has no effect."""
    if posterior is None:
        return set()
    keys = set(posterior.keys)
    return {c.id for c in controls_for(params) if set(c.keys(params)) <= keys}


def build_ensemble(
    scenario: str, values: dict[str, Any], seed: int, size: int = 1, posterior: Posterior | None = None
) -> Ensemble:
    """``size`` runs with seeds ``seed .. seed + size - 1``, or :class:`ControlError`.

    Without a ``posterior`` every run has the same parameters. With one, the run with seed
    ``s`` takes the controls' values and then the free parameters ``posterior.draw(s)`` gives,
    the same draw as ``batch --posterior`` makes for seed ``s`` (a drawn value replaces a control's).
    """
    if not isinstance(size, int) or not 1 <= size <= MAX_ENSEMBLE_RUNS:
        raise ControlError("runs", f"the number of runs must be a whole number from 1 to {MAX_ENSEMBLE_RUNS}")
    if posterior is None:
        first = build_model(scenario, values, seed)
        runs = [Run(first, scenario, seed)]
        runs += [Run(MarketModel(first.params, rng=seed + k), scenario, seed + k) for k in range(1, size)]
        return Ensemble(runs)
    check_seed(seed)
    params = build_params(scenario, values)
    overrides, _owner = control_overrides(scenario, values)
    overrides.setdefault("name", params.name)
    seeds = [seed + k for k in range(size)]
    try:
        jobs = posterior_jobs(scenario, overrides, posterior, seeds)
        runs = [Run(MarketModel(params, rng=s), scenario, s, drawn=posterior.draw(s)) for params, s in jobs]
    except (InputError, ValueError) as exc:
        raise ControlError("posterior", f"the runs cannot start with the posterior's draws: {exc}") from None
    return Ensemble(runs, posterior=posterior)
