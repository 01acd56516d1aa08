"""The sweep specification: a TOML file naming a scenario, the parameters to vary and how.

A spec is checked in full before any run starts. Parameter keys go through the scenario
loader's override check, so an unknown key is named with the keys allowed there; every
design point is validated as a scenario, so a value outside a parameter's range is caught
too. Every failure is one :class:`~agentmarket.errors.InputError` line.

Example::

    scenario = "baseline"
    seed = 20260101
    replicates = 4
    months = 36
    set = { "simulation.developer_agents" = 1000 }

    [design]
    kind = "sobol"        # grid | lhs | sobol | morris
    samples = 32          # base samples (sobol, lhs) or trajectories (morris)

    [parameters."adoption.imitation"]
    min = 0.1
    max = 0.6

    [outputs]
    metrics = ["market.adoption_share", "lab_*.revenue"]
    keep = "series"       # series: monthly values; summary: statistics per run
    events = true         # also keep each layer's binding, each lab's exit, cash and gross margin,
                          # and the compute price (the event outcomes scenario discovery asks about)
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentmarket.errors import InputError
from agentmarket.metrics import names_for
from agentmarket.params import Layer, Params
from agentmarket.scenarios import apply_overrides, load_raw, read_toml, scenario_hash, validate

SUMMARY_STATS = ("final", "mean", "min", "max", "sum", "first")
YEAR_STATS = ("months", "mean")  # named months_YYYY and mean_YYYY, one per calendar year of the run
EVENT_METRICS = ("*.binding", "*.exited", "*.cash", "*.gross_margin", "market.compute_price")


class DesignKind(StrEnum):
    """How design points are laid out in the parameter space."""

    GRID = "grid"
    LHS = "lhs"
    SOBOL = "sobol"
    MORRIS = "morris"


class Keep(StrEnum):
    """What each run keeps: every month of each metric, or its statistics (:data:`SUMMARY_STATS`, per year too)."""

    SERIES = "series"
    SUMMARY = "summary"


class Strict(BaseModel):
    """Base of the sweep spec's tables: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ParameterRange(Strict):
    """One varied parameter: explicit ``values`` (grid levels), or ``min``/``max``.

    ``levels`` spaces a grid evenly from ``min`` to ``max``; ``scale = "log"`` spaces
    samples evenly in the logarithm, for parameters spanning orders of magnitude.
    """

    values: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    levels: int | None = Field(None, ge=1, le=1000)
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _check(self) -> ParameterRange:
        if self.values is not None:
            if self.min is not None or self.max is not None:
                raise ValueError("give either values or min and max, not both")
            if not self.values:
                raise ValueError("values must not be empty")
            return self
        if self.min is None or self.max is None:
            raise ValueError("give values = [...] or both min and max")
        if not self.min < self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        if self.scale == "log" and self.min <= 0:
            raise ValueError("scale = 'log' needs min > 0")
        return self


class Design(Strict):
    """The layout of design points; ``samples`` is N in Saltelli's and Morris's sense."""

    kind: DesignKind = DesignKind.GRID
    samples: int = Field(16, ge=1, le=1_000_000)
    levels: int = Field(4, ge=2, le=100, description="grid levels of a Morris trajectory")
    second_order: bool = Field(False, description="Sobol: also sample for second-order indices")


class Outputs(Strict):
    """What is kept from each run. Metric names are ``entity.metric``; ``*`` matches any text.

    ``events`` adds :data:`EVENT_METRICS` to ``metrics``: each supply layer's binding flag,
    each lab's exit flag, cash and gross margin, and the compute price. Their summaries are the
    event outcomes of a run (months bound per year, first month bound, whether and when a lab
    exits, its lowest cash, the peak compute price).
    """

    metrics: list[str] = Field(default_factory=lambda: ["market.*"], min_length=1)
    keep: Keep = Keep.SERIES
    events: bool = False
    sensitivity_stat: Literal["final", "mean", "min", "max", "sum"] = "final"

    @model_validator(mode="after")
    def _add_events(self) -> Outputs:
        if self.events:
            self.metrics = [*self.metrics, *(m for m in EVENT_METRICS if m not in self.metrics)]
        return self


class SweepSpec(Strict):
    """A whole sweep: the scenario, the varied parameters, the design and what to keep."""

    name: str = "sweep"
    description: str = ""
    scenario: str = "baseline"
    seed: int = Field(0, ge=0, le=2**63 - 1)
    replicates: int = Field(1, ge=1, le=100_000)
    months: int | None = Field(None, ge=1, le=1200)
    common_random_numbers: bool = Field(
        False, description="replicate r uses the same seed at every design point (less noise between points)"
    )
    set: dict[str, Any] = Field(default_factory=dict, description="fixed overrides: dotted.key = value")
    parameters: dict[str, ParameterRange] = Field(default_factory=dict)
    design: Design = Field(default_factory=Design)
    outputs: Outputs = Field(default_factory=Outputs)

    @model_validator(mode="after")
    def _check_design(self) -> SweepSpec:
        if self.design.kind != DesignKind.GRID:
            if not self.parameters:
                raise ValueError(f"design {self.design.kind.value!r} needs at least one parameter")
            listed = [k for k, r in self.parameters.items() if r.values is not None]
            if listed:
                raise ValueError(
                    f"design {self.design.kind.value!r} samples ranges: give min and max for {', '.join(listed)}"
                )
        if self.design.kind in (DesignKind.SOBOL, DesignKind.MORRIS) and len(self.parameters) < 2:
            raise ValueError(f"design {self.design.kind.value!r} needs at least two parameters to compare")
        return self


def _format(exc: ValidationError, origin: str) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "top level"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{origin}: unknown key {where!r}"
    return f"{origin}: {where}: {msg}"


def parse_spec(data: dict[str, Any], origin: str = "sweep spec") -> SweepSpec:
    """A validated :class:`SweepSpec` from a plain dictionary, or one-line :class:`InputError`."""
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(_format(exc, origin)) from None
    check_spec(spec, origin)
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec TOML file."""
    path = Path(path)
    data = read_toml(path, "sweep spec")
    data.setdefault("name", path.stem)
    scenario = data.get("scenario")
    if isinstance(scenario, str) and not Path(scenario).is_absolute() and (path.parent / scenario).is_file():
        data["scenario"] = str(path.parent / scenario)
    spec = parse_spec(data, origin=f"sweep spec {path.name!r}")
    if not varied_parameters(spec):
        raise InputError(
            f'sweep spec {path.name!r}: varies no parameter; give at least one [parameters."KEY"] with min and max'
            " or two or more values (for replicates of one scenario use agentmarket batch)"
        )
    return spec


def varied_parameters(spec: SweepSpec) -> list[str]:
    """The keys of ``spec.parameters`` that take more than one value across the design."""
    varied = []
    for key, rng in spec.parameters.items():
        if rng.values is not None:
            levels = {json.dumps(v, sort_keys=True, default=str) for v in rng.values}
            if len(levels) > 1:
                varied.append(key)
        elif spec.design.kind is not DesignKind.GRID or rng.levels != 1:
            varied.append(key)
    return varied


def base_raw(spec: SweepSpec) -> dict[str, Any]:
    """The scenario as a plain dictionary, with the spec's fixed overrides and months applied."""
    raw = load_raw(spec.scenario)
    raw.setdefault("name", Path(spec.scenario).stem)
    fixed = dict(spec.set)
    if spec.months is not None:
        fixed["simulation.months"] = spec.months
    return apply_overrides(raw, fixed)


def base_params(spec: SweepSpec) -> Params:
    """The parameters every design point starts from."""
    return validate(base_raw(spec), origin=f"sweep scenario {Path(spec.scenario).stem!r}")


def field_annotation(key: str) -> Any:
    """The schema type of a dotted parameter key (entity tables resolved to their schema)."""
    model: Any = Params
    ann: Any = None
    for part in key.split("."):
        if isinstance(model, tuple):
            model = model[1]
            continue
        ann = model.model_fields[part].annotation
        model = ("dict", get_args(ann)[1]) if get_origin(ann) is dict else ann
    return ann


def is_numeric(key: str) -> bool:
    """Whether a parameter takes numbers (may be sampled from a range)."""
    ann = field_annotation(key)
    return ann in (int, float)


def check_spec(spec: SweepSpec, origin: str = "sweep spec") -> None:
    """Raise :class:`InputError` unless every key, range and metric of ``spec`` is usable."""
    try:
        raw = base_raw(spec)
    except InputError as exc:
        raise InputError(f"{origin}: {exc}") from None
    base = validate(raw, origin=f"{origin}: scenario {Path(spec.scenario).stem!r}")  # names the spec itself
    for key, rng in spec.parameters.items():
        try:
            apply_overrides(raw, {key: rng.values[0] if rng.values is not None else rng.min})
        except InputError as exc:
            raise InputError(f"{origin}: parameters: {exc}") from None
        if key in spec.set:
            raise InputError(f"{origin}: parameter {key!r} is both varied and fixed in 'set'")
        if rng.values is None and not is_numeric(key):
            raise InputError(f"{origin}: parameter {key!r} is not a number; list its levels with values = [...]")
        ends = rng.values if rng.values is not None else [rng.min, rng.max]
        for value in ends:
            value = round(value) if field_annotation(key) is int and isinstance(value, float) else value
            validate(apply_overrides(raw, {key: value}), origin=f"{origin}: parameter {key!r} = {value!r}")
    select_metrics(spec.outputs.metrics, base, origin)


def entity_metrics(params: Params) -> dict[str, tuple[str, ...]]:
    """Every entity of a scenario and the metrics the model reports for it (from the metric registry)."""
    out: dict[str, tuple[str, ...]] = {"market": names_for("market")}
    out.update(dict.fromkeys(params.labs, names_for("lab")))
    out.update(dict.fromkeys(params.clouds, names_for("cloud")))
    out.update({layer.value: names_for("layer") for layer in Layer})
    return out


def select_metrics(patterns: list[str], params: Params, origin: str = "sweep spec") -> list[tuple[str, str]]:
    """The (entity, metric) pairs matched by ``entity.metric`` patterns; each must match one."""
    known = entity_metrics(params)
    chosen: list[tuple[str, str]] = []
    for pattern in patterns:
        entity_pat, dot, metric_pat = pattern.partition(".")
        if not dot:
            raise InputError(
                f"{origin}: outputs.metrics: {pattern!r} must be entity.metric, e.g. market.adoption_share"
            )
        hits = [
            (entity, metric)
            for entity, metrics in known.items()
            if fnmatch.fnmatchcase(entity, entity_pat)
            for metric in metrics
            if fnmatch.fnmatchcase(metric, metric_pat)
        ]
        if not hits:
            entities = [e for e in known if fnmatch.fnmatchcase(e, entity_pat)]
            if not entities:
                raise InputError(f"{origin}: outputs.metrics: no entity {entity_pat!r}; allowed: {', '.join(known)}")
            allowed = sorted({m for e in entities for m in known[e]})
            raise InputError(f"{origin}: outputs.metrics: no metric {metric_pat!r}; allowed: {', '.join(allowed)}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    return value


def spec_hash(spec: SweepSpec) -> str:
    """A digest of the spec and of the scenario it starts from: equal hashes mean the same sweep."""
    doc = {"spec": spec.model_dump(mode="json"), "scenario": scenario_hash(base_params(spec))}
    doc["spec"].pop("description", None)
    doc["spec"].pop("scenario", None)  # its content is in the scenario hash, wherever the file lies
    text = json.dumps(doc, sort_keys=True, default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
