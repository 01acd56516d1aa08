"""Replicates of one scenario: a sweep with a single design point and many seeds."""

from __future__ import annotations

from collections.abc import Iterable

from agentmarket.experiments.spec import SweepSpec, parse_spec
from agentmarket.scenarios import parse_override


def batch_spec(
    scenario: str = "baseline",
    seeds: int = 10,
    sets: Iterable[str] = (),
    *,
    seed: int = 0,
    months: int | None = None,
    metrics: Iterable[str] = ("market.*",),
    keep: str = "series",
) -> SweepSpec:
    """The spec of ``seeds`` replicates of ``scenario`` with ``--set``-style overrides."""
    fixed = {}
    for text in sets:
        keys, value = parse_override(text)
        fixed[".".join(keys)] = value
    data = {
        "name": f"batch-{scenario}",
        "scenario": scenario,
        "seed": seed,
        "replicates": seeds,
        "months": months,
        "set": fixed,
        "outputs": {"metrics": list(metrics), "keep": keep},
    }
    return parse_spec(data, origin="batch")
