"""agentmarket as an EMA Workbench model, for exploratory modelling in EMA's own workflows.

::

    from ema_workbench import MultiprocessingEvaluator, perform_experiments
    from agentmarket.ema import ema_model

    model = ema_model("baseline", months=48, developers=2000, summaries=["grid.binding.first"])
    experiments, outcomes = perform_experiments(model, 100)            # in this process
    with MultiprocessingEvaluator(model, n_processes=2) as evaluator:  # or on several
        experiments, outcomes = evaluator.perform_experiments(100)

Uncertainties come from the parameter schema: by default the parameters that calibration fits
(``agentmarket/calibration/free_parameters.toml``), over the ranges it searches, which lie
inside their schema bounds; on request any numeric, true/false or choice parameter, over its
schema bounds or a narrower range. Outcomes come from the metric registry: the monthly series
of every metric of every entity of the scenario (or those matching ``series`` patterns), as
EMA time-series outcomes, plus any run summaries asked for (``entity.metric.stat``, as sweeps
name them) as scalar outcomes.

EMA names must be Python identifiers, so a parameter ``adoption.imitation`` is the uncertainty
``adoption__imitation``, a series ``lab_a.revenue`` the outcome ``lab_a__revenue`` and a summary
``grid.binding.first`` the outcome ``grid__binding__first`` (``.`` becomes ``__``, ``-`` ``_``).

Each experiment runs with the same ``seed`` (common random numbers: differences between
experiments come from the parameters alone); ``replications=N`` instead returns EMA's
``ReplicatorModel`` running every experiment with N seeds spawned from ``seed``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from types import ModuleType
from typing import Any, get_args, get_origin

import numpy as np

from agentmarket.errors import InputError
from agentmarket.metrics import ENTITY_KINDS, names_for


def import_workbench() -> ModuleType:
    """``ema_workbench``, imported without its notice that the optional ipyparallel is missing."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ipyparallel not installed")
        import ema_workbench
    return ema_workbench


def ema_name(key: str) -> str:
    """A dotted agentmarket name as an EMA name (a Python identifier): ``.`` to ``__``, ``-`` to ``_``."""
    return key.replace("-", "_").replace(".", "__")


def registry_metrics() -> dict[str, tuple[str, ...]]:
    """The metrics the model reports, by kind of entity (market, lab, cloud, layer), from the metric registry."""
    return {kind: names_for(kind) for kind in ENTITY_KINDS}


def scenario_entities(params) -> dict[str, tuple[str, ...]]:
    """Every entity of a scenario and the registry's metrics for it."""
    from agentmarket.params import Layer

    kinds = registry_metrics()
    out: dict[str, tuple[str, ...]] = {"market": kinds["market"]}
    out.update(dict.fromkeys(params.labs, kinds["lab"]))
    out.update(dict.fromkeys(params.clouds, kinds["cloud"]))
    out.update({layer.value: kinds["layer"] for layer in Layer})
    return out


def schema_field(key: str):
    """The pydantic field of a dotted parameter key (entity tables resolved to their schema)."""
    from agentmarket.params import Params

    model: Any = Params
    info = None
    parts = key.split(".")
    i = 0
    while i < len(parts):
        info = model.model_fields[parts[i]]
        ann = info.annotation
        if get_origin(ann) is dict:
            model = get_args(ann)[1]
            i += 2  # the entity's name
            continue
        model = ann
        i += 1
    return info


def schema_bounds(key: str) -> tuple[float | None, float | None]:
    """A numeric parameter's bounds from the schema, open ends nudged inside (``None``: unbounded)."""
    info = schema_field(key)
    low = high = None
    for meta in info.metadata:
        if getattr(meta, "ge", None) is not None:
            low = float(meta.ge)
        if getattr(meta, "gt", None) is not None:
            low = float(np.nextafter(float(meta.gt), math.inf))
        if getattr(meta, "le", None) is not None:
            high = float(meta.le)
        if getattr(meta, "lt", None) is not None:
            high = float(np.nextafter(float(meta.lt), -math.inf))
    if info.annotation is int:
        low = None if low is None else float(math.ceil(low))
        high = None if high is None else float(math.floor(high))
    return low, high


def calibrated_ranges() -> dict[str, tuple[float, float]]:
    """The parameters calibration fits and the ranges it searches."""
    from agentmarket.calibration.calibrate import load_free_parameters

    return {p.key: (p.low, p.high) for p in load_free_parameters()}


def make_uncertainty(key: str, span: tuple[float, float] | Sequence[Any] | None, raw: dict[str, Any]):
    """An EMA parameter for ``key`` over ``span`` (low, high), listed levels, or its schema bounds."""
    from agentmarket.scenarios import apply_overrides, validate

    ema = import_workbench()
    info = schema_field_checked(key, raw)
    ann = info.annotation
    name = ema_name(key)
    if ann is bool or (isinstance(ann, type) and issubclass(ann, Enum)):
        levels = list(span) if span is not None else ([False, True] if ann is bool else [m.value for m in ann])
        for level in levels:
            validate(apply_overrides(raw, {key: level}), origin=f"uncertainty {key!r} = {level!r}")
        if ann is bool:
            return ema.BooleanParameter(name, variable_name=key)
        return ema.CategoricalParameter(name, levels, variable_name=key)
    if ann not in (int, float):
        raise InputError(f"uncertainty {key!r}: a {getattr(ann, '__name__', ann)} parameter cannot be sampled")
    lo_bound, hi_bound = schema_bounds(key)
    if span is None:
        if lo_bound is None or hi_bound is None:
            raise InputError(
                f"uncertainty {key!r}: its schema range is open ({lo_bound} to {hi_bound}); give (low, high)"
            )
        low, high = lo_bound, hi_bound
    else:
        if len(span) != 2:
            raise InputError(f"uncertainty {key!r}: give (low, high), not {span!r}")
        low, high = float(span[0]), float(span[1])
    if not low < high:
        raise InputError(f"uncertainty {key!r}: low ({low:g}) must be below high ({high:g})")
    for value in (low, high):
        shown = int(value) if ann is int else value
        validate(apply_overrides(raw, {key: shown}), origin=f"uncertainty {key!r} = {shown!r}")
    if ann is int:
        return ema.IntegerParameter(name, int(low), int(high), variable_name=key)
    return ema.RealParameter(name, low, high, variable_name=key)


def schema_field_checked(key: str, raw: dict[str, Any]):
    """The schema field of ``key``, after checking the key exists in the scenario (else one line)."""
    from agentmarket.scenarios import apply_overrides

    try:
        apply_overrides(raw, {key: None})
    except InputError as exc:
        raise InputError(f"uncertainty: {exc}") from None
    return schema_field(key)


def choose_uncertainties(
    uncertainties: Iterable[str] | Mapping[str, Any] | None, raw: dict[str, Any]
) -> dict[str, tuple[float, float] | Sequence[Any] | None]:
    """Keys and spans: the calibrated ones by default, a list of keys (schema bounds) or a mapping."""
    if uncertainties is None:
        return dict(calibrated_ranges())
    if isinstance(uncertainties, Mapping):
        return dict(uncertainties)
    if isinstance(uncertainties, str):
        uncertainties = [uncertainties]
    return dict.fromkeys(uncertainties)


def choose_series(patterns: Iterable[str] | None, params) -> list[tuple[str, str]]:
    """The (entity, metric) pairs whose monthly series are outcomes; each pattern must match one."""
    import fnmatch

    known = scenario_entities(params)
    if patterns is None:
        return [(entity, metric) for entity, metrics in known.items() for metric in metrics]
    chosen: list[tuple[str, str]] = []
    for pattern in patterns:
        entity_pat, dot, metric_pat = pattern.partition(".")
        hits = [
            (entity, metric)
            for entity, metrics in known.items()
            if fnmatch.fnmatchcase(entity, entity_pat)
            for metric in metrics
            if dot and fnmatch.fnmatchcase(metric, metric_pat)
        ]
        if not hits:
            raise InputError(
                f"outcome {pattern!r} matches no entity.metric; entities: {', '.join(known)}; "
                f"metrics: {', '.join(sorted({m for ms in known.values() for m in ms}))}"
            )
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def choose_summaries(names: Iterable[str], params) -> list[tuple[str, str, str]]:
    """The (entity, metric, stat) run summaries that are scalar outcomes (``*`` allowed in entity.metric)."""
    from agentmarket.experiments.spec import SUMMARY_STATS, YEAR_STATS

    chosen: list[tuple[str, str, str]] = []
    for name in names:
        base, dot, stat = name.rpartition(".")
        year_stat = stat.partition("_")
        known_stat = stat in SUMMARY_STATS or (year_stat[0] in YEAR_STATS and year_stat[2].isdigit())
        if not dot or not known_stat:
            allowed = ", ".join([*SUMMARY_STATS, *(f"{s}_YYYY" for s in YEAR_STATS)])
            raise InputError(f"summary {name!r}: give entity.metric.stat, stat one of {allowed}")
        for entity, metric in choose_series([base], params):
            if (entity, metric, stat) not in chosen:
                chosen.append((entity, metric, stat))
    return chosen


def run_experiment(
    base: dict[str, Any],
    seed: int,
    series: tuple[tuple[str, str], ...],
    summaries: tuple[tuple[str, str, str], ...],
    **values: Any,
) -> dict[str, Any]:
    """One EMA experiment: the scenario ``base`` with ``values`` (dotted keys) set, run with ``seed``.

    Returns each series (``entity.metric``: monthly values) and summary (``entity.metric.stat``).
    A top-level function, so that EMA's evaluators can send it to worker processes.
    """
    from agentmarket.experiments.runner import kept_rows, summarise
    from agentmarket.model import MarketModel
    from agentmarket.scenarios import apply_overrides, validate

    overrides = {key: (value.item() if isinstance(value, np.generic) else value) for key, value in values.items()}
    params = validate(apply_overrides(base, overrides), origin="experiment")
    model = MarketModel(params, rng=int(seed)).run()
    wanted = tuple(dict.fromkeys([*series, *((e, m) for e, m, _ in summaries)]))
    rows = kept_rows(model, wanted)
    result: dict[str, Any] = {}
    by_metric = {key: sub.sort_values("date")["value"].to_numpy() for key, sub in rows.groupby(["entity", "metric"])}
    for entity, metric in series:
        result[f"{entity}.{metric}"] = by_metric[(entity, metric)]
    if summaries:
        stats = summarise(rows).set_index(["entity", "metric", "stat"])["value"]
        for entity, metric, stat in summaries:
            result[f"{entity}.{metric}.{stat}"] = float(stats.get((entity, metric, stat), np.nan))
    return result


def ema_model(
    scenario: str = "baseline",
    months: int | None = None,
    developers: int | None = None,
    *,
    uncertainties: Iterable[str] | Mapping[str, Any] | None = None,
    series: Iterable[str] | None = None,
    summaries: Iterable[str] = (),
    seed: int = 0,
    replications: int | None = None,
    name: str | None = None,
):
    """An ``ema_workbench.Model`` of a scenario (see the module docstring).

    Args:
        scenario: a bundled scenario's name or a scenario file.
        months: months to simulate (default: the scenario's).
        developers: developer agents (default: the scenario's).
        uncertainties: ``None`` for the calibrated parameters over their calibration ranges; a
            list of dotted keys over their schema bounds; or ``{key: (low, high)}`` (a list of
            levels for a true/false or choice parameter).
        series: ``entity.metric`` patterns (``*`` matches any text) of the monthly series kept
            as time-series outcomes; ``None`` keeps every metric of the registry.
        summaries: ``entity.metric.stat`` run summaries kept as scalar outcomes, e.g.
            ``"grid.binding.first"`` or ``"lab_*.exited.max"``.
        seed: the model seed of every experiment (or the root of the replications' seeds).
        replications: run each experiment with this many seeds (an EMA ``ReplicatorModel``).
        name: the EMA model's name (default: the scenario's, as an identifier).

    Raises:
        InputError: an unknown key, a range outside the schema's bounds, an unknown outcome.
    """
    from agentmarket.scenarios import apply_overrides, load_raw, validate

    ema = import_workbench()
    raw = load_raw(scenario)
    fixed: dict[str, Any] = {}
    if months is not None:
        fixed["simulation.months"] = months
    if developers is not None:
        fixed["simulation.developer_agents"] = developers
    base = apply_overrides(raw, fixed)
    params = validate(base, origin=f"scenario {scenario!r}")
    chosen_series = tuple(choose_series(series, params))
    chosen_summaries = tuple(choose_summaries(summaries, params))
    model_name = name or ema_name(params.name if params.name.isidentifier() else "agentmarket")
    if not model_name.isidentifier():
        model_name = "agentmarket"
    if replications is None:
        model = ema.Model(model_name, function=run_experiment)
    else:
        if replications < 1:
            raise InputError(f"replications {replications}: give at least 1")
        model = ema.ReplicatorModel(model_name, function=run_experiment)
        seeds = np.random.SeedSequence(seed).generate_state(replications, np.uint32)
        model.replications = [{"seed": int(s)} for s in seeds]
    model.uncertainties = [
        make_uncertainty(key, span, base) for key, span in choose_uncertainties(uncertainties, base).items()
    ]
    constants = [
        ema.Constant("base", base),
        ema.Constant("series", chosen_series),
        ema.Constant("summaries", chosen_summaries),
    ]
    if replications is None:
        constants.append(ema.Constant("seed", int(seed)))
    model.constants = constants
    outcomes = []
    for entity, metric in chosen_series:
        outcomes.append(ema.TimeSeriesOutcome(ema_name(f"{entity}.{metric}"), variable_name=f"{entity}.{metric}"))
    for entity, metric, stat in chosen_summaries:
        key = f"{entity}.{metric}.{stat}"
        outcomes.append(ema.ScalarOutcome(ema_name(key), variable_name=key))
    names = [o.name for o in outcomes]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise InputError(f"outcomes share an EMA name after renaming: {', '.join(clash)}")
    model.outcomes = outcomes
    return model
