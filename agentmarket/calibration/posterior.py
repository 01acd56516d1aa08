"""Posterior predictive runs: each run draws its free parameters from a posterior by its run seed.

A posterior file is what ``agentmarket calibrate --method abc`` writes: one row per particle,
one column per parameter (dotted scenario keys) and ``weight``. A run with seed ``s`` takes
particle ``i`` with probability ``weight[i]``, drawn from its own stream of ``s`` (separate
from the model's), so the same seed gives the same parameters on one worker or many, and
bands over runs carry both parameter and seed uncertainty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agentmarket.errors import InputError

POSTERIOR_STREAM = 15
"""SeedSequence spawn key of the posterior draw, apart from the model's own stream."""


@dataclass(frozen=True)
class Posterior:
    """A weighted sample of parameter values; :meth:`draw` picks one particle by a run seed."""

    table: pd.DataFrame
    path: str = ""

    @property
    def keys(self) -> list[str]:
        """The parameters' dotted scenario keys."""
        return [c for c in self.table.columns if c != "weight"]

    @property
    def digest(self) -> str:
        """A short hash of the particles and weights: equal digests, equal draws."""
        data = pd.util.hash_pandas_object(self.table, index=False).to_numpy().tobytes()
        return hashlib.sha256(data).hexdigest()[:16]

    def draw(self, run_seed: int) -> dict[str, Any]:
        """The parameter values of the run with seed ``run_seed``."""
        rng = np.random.default_rng(np.random.SeedSequence(int(run_seed), spawn_key=(POSTERIOR_STREAM,)))
        w = self.table["weight"].to_numpy(float)
        row = self.table.iloc[int(rng.choice(len(w), p=w / w.sum()))]
        return {k: _plain(k, row[k]) for k in self.keys}

    def check(self, raw: dict[str, Any], origin: str = "--posterior") -> None:
        """Every particle must make a valid scenario of ``raw`` (:class:`InputError` otherwise)."""
        from agentmarket.scenarios import apply_overrides, validate

        for i in range(len(self.table)):
            row = self.table.iloc[i]
            validate(apply_overrides(raw, {k: _plain(k, row[k]) for k in self.keys}), origin=f"{origin} particle {i}")


def _plain(key: str, value: Any) -> Any:
    """A table value as the parameter's own type: integer parameters as whole numbers."""
    from agentmarket.experiments.spec import field_annotation

    value = value.item() if isinstance(value, np.generic) else value
    try:
        is_int = field_annotation(key) is int
    except Exception:
        is_int = False
    return round(value) if is_int else float(value)


def load_posterior(path: str | Path, required: list[str] | None = None) -> Posterior:
    """Read and check a posterior file: a ``weight`` column and a column per required parameter.

    ``required`` defaults to every free parameter of ``free_parameters.toml``. Every failure is
    one :class:`InputError` line.
    """
    from agentmarket.calibration.calibrate import load_free_parameters

    p = Path(path)
    if not p.is_file():
        raise InputError(f"--posterior {str(p)!r} does not exist; give the posterior.parquet of a calibration")
    try:
        table = pd.read_parquet(p)
    except Exception as exc:
        raise InputError(f"--posterior {str(p)!r} is not a readable parquet file ({type(exc).__name__})") from None
    if "weight" not in table.columns:
        raise InputError(f"--posterior {str(p)!r} has no 'weight' column")
    required = [f.key for f in load_free_parameters()] if required is None else required
    missing = [k for k in required if k not in table.columns]
    if missing:
        raise InputError(
            f"--posterior {str(p)!r} lacks a column for the free parameter(s) {', '.join(missing)}; "
            "it needs one column per entry of free_parameters.toml and 'weight'"
        )
    if table.empty:
        raise InputError(f"--posterior {str(p)!r} has no particles")
    values = table.drop(columns="weight")
    if not all(pd.api.types.is_numeric_dtype(values[c]) for c in values.columns):
        raise InputError(f"--posterior {str(p)!r}: every parameter column must be numeric")
    w = table["weight"].to_numpy(float)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InputError(f"--posterior {str(p)!r}: weights must be finite, non-negative and not all zero")
    if not np.isfinite(values.to_numpy(float)).all():
        raise InputError(f"--posterior {str(p)!r}: every parameter value must be a finite number")
    return Posterior(table.reset_index(drop=True), str(p))


def draws_table(posterior: Posterior, seeds: list[int]) -> pd.DataFrame:
    """One row per run seed: the seed and the parameter values it draws."""
    return pd.DataFrame([{"seed": s, **posterior.draw(s)} for s in seeds])


def coverage(table: pd.DataFrame) -> tuple[int, int]:
    """Held facts (rows passed or missed) whose value lies within the runs' 5-95% range: (inside, total)."""
    from agentmarket.calibration.validate import parse_value

    held = table[table["status"].isin(["pass", "miss"])]
    inside = 0
    for r in held.to_dict("records"):
        v = parse_value(r["target"])
        inside += bool(v is not None and r["p05"] <= v <= r["p95"])
    return inside, len(held)


def posterior_jobs(
    scenario: str, overrides: Sequence[str] | Mapping[str, Any], posterior: Posterior, seeds: list[int]
) -> list[tuple[Any, int]]:
    """(parameters, seed) of each run: the scenario with ``overrides``, then the run's draw.

    ``overrides`` are ``dotted.key=value`` texts or a mapping of dotted keys to values.
    """
    from agentmarket.scenarios import apply_overrides, load_raw, validate

    raw = apply_overrides(load_raw(scenario), overrides)
    posterior.check(raw)
    return [(validate(apply_overrides(raw, posterior.draw(s)), origin=f"run seed {s}"), s) for s in seeds]
