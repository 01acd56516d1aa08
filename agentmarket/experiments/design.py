"""Design points: where in the parameter space a sweep runs the model, and each run's seed.

``grid`` is the full factorial of each parameter's levels; ``lhs`` a Latin hypercube;
``sobol`` Saltelli's sampling and ``morris`` Morris's trajectories, both through SALib so
that SALib's analysis can read the results back in the same order. Every draw comes from the
sweep's seed, so the same spec gives the same design on any machine.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from agentmarket.experiments.spec import DesignKind, SweepSpec, field_annotation

# SeedSequence spawn keys: design draws and run seeds never share a stream.
DESIGN_STREAM = 1
RUN_STREAM = 0


@dataclass(frozen=True)
class Run:
    """One model run: a design point, a replicate, and the seed it runs with."""

    run_id: str
    point: int
    replicate: int
    seed: int


def design_seed(spec: SweepSpec) -> int:
    """The seed of the design's own draws (LHS, Sobol scrambling, Morris trajectories)."""
    ss = np.random.SeedSequence(spec.seed, spawn_key=(DESIGN_STREAM,))
    return int(ss.generate_state(1, np.uint32)[0])


def run_seed(spec: SweepSpec, point: int, replicate: int) -> int:
    """A run's model seed, spawned from the sweep seed by run identity alone.

    It depends on neither the worker count nor the order runs finish in, so a sweep gives
    the same results on one worker, many, or after a resume. With common random numbers,
    replicate r has the same seed at every design point.
    """
    key = (RUN_STREAM, replicate) if spec.common_random_numbers else (RUN_STREAM, point, replicate)
    ss = np.random.SeedSequence(spec.seed, spawn_key=key)
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))  # 63 bits: fits an int64 column


def run_id(point: int, replicate: int) -> str:
    """A run's stable name, used for its file, its manifest line and its Dask key."""
    return f"p{point:06d}-r{replicate:04d}"


def problem(spec: SweepSpec) -> dict[str, Any]:
    """SALib's problem dictionary; log-scaled parameters are sampled in log10 units."""
    names = list(spec.parameters)
    bounds = []
    for rng in spec.parameters.values():
        lo, hi = (np.log10(rng.min), np.log10(rng.max)) if rng.scale == "log" else (rng.min, rng.max)
        bounds.append([float(lo), float(hi)])
    return {"num_vars": len(names), "names": names, "bounds": bounds}


def _from_problem_space(spec: SweepSpec, x: np.ndarray) -> np.ndarray:
    out = np.array(x, dtype=float, copy=True)
    for j, rng in enumerate(spec.parameters.values()):
        if rng.scale == "log":
            out[:, j] = 10.0 ** out[:, j]
    return out


def _grid_levels(spec: SweepSpec) -> list[list[Any]]:
    levels = []
    for rng in spec.parameters.values():
        if rng.values is not None:
            levels.append(list(rng.values))
            continue
        n = rng.levels or spec.design.levels
        if rng.scale == "log":
            levels.append(list(np.geomspace(rng.min, rng.max, n)))
        else:
            levels.append(list(np.linspace(rng.min, rng.max, n)))
    return levels


def sample_matrix(spec: SweepSpec) -> np.ndarray:
    """The design matrix in SALib's problem space (rows: points; columns: parameters)."""
    kind = spec.design.kind
    prob = problem(spec)
    seed = design_seed(spec)
    n = spec.design.samples
    if kind == DesignKind.LHS:
        from scipy.stats import qmc  # scipy.stats takes a second to import: only for LHS designs

        unit = qmc.LatinHypercube(d=prob["num_vars"], seed=seed).random(n)
        lo, hi = np.array(prob["bounds"]).T
        return lo + unit * (hi - lo)
    if kind == DesignKind.SOBOL:
        from SALib.sample import sobol

        return sobol.sample(prob, n, calc_second_order=spec.design.second_order, seed=seed)
    if kind == DesignKind.MORRIS:
        from SALib.sample import morris

        return morris.sample(prob, n, num_levels=spec.design.levels, seed=seed)
    raise ValueError(f"no sampler for design {kind}")


def _cast(key: str, value: Any) -> Any:
    """A sampled value in the parameter's own type: integers are rounded to the nearest."""
    if isinstance(value, np.generic):
        value = value.item()
    if field_annotation(key) is int and isinstance(value, float):
        return round(value)
    return value


def design_table(spec: SweepSpec) -> pd.DataFrame:
    """Every design point: a ``point`` column and one column per varied parameter.

    A sweep with no varied parameter has one point, the scenario itself.
    """
    names = list(spec.parameters)
    if not names:
        return pd.DataFrame({"point": [0]})
    if spec.design.kind == DesignKind.GRID:
        rows = list(itertools.product(*_grid_levels(spec)))
    else:
        rows = _from_problem_space(spec, sample_matrix(spec)).tolist()
    table = pd.DataFrame([[_cast(k, v) for k, v in zip(names, row, strict=True)] for row in rows], columns=names)
    table.insert(0, "point", np.arange(len(table), dtype=np.int64))
    return table


def point_overrides(design: pd.DataFrame, point: int) -> dict[str, Any]:
    """A design point's parameter values as ``{dotted.key: value}`` overrides."""
    row = design.iloc[point]
    return {k: _cast(k, row[k]) for k in design.columns if k != "point"}


def plan_runs(spec: SweepSpec, design: pd.DataFrame) -> list[Run]:
    """Every run of the sweep, point by point, replicate by replicate."""
    return [
        Run(run_id(p, r), p, r, run_seed(spec, p, r)) for p in design["point"].tolist() for r in range(spec.replicates)
    ]
