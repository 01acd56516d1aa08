"""Batch experiments and parameter sweeps, on a laptop or a Dask cluster.

From a notebook::

    from agentmarket.experiments import load_spec, run_sweep, read_results, make_report

    spec = load_spec("examples/sweep-imitation.toml")
    run_sweep(spec, "sweeps/imitation")                 # local cluster sized to the machine
    table = read_results("sweeps/imitation")            # every finished run's kept rows
    make_report("sweeps/imitation")                     # figures and an HTML page

The command line offers the same as ``agentmarket batch``, ``sweep`` and ``report``.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "batch_spec": "batch",
    "design_table": "design",
    "plan_runs": "design",
    "run_seed": "design",
    "SweepSpec": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
    "spec_hash": "spec",
    "read_design": "store",
    "read_manifest": "store",
    "read_results": "store",
    "SweepOutcome": "sweep",
    "run_sweep": "sweep",
}
"""Where each name lives. Imported on first use, so that a worker importing one run's module
(:mod:`agentmarket.experiments.runner`) does not pay for the sweep, store and design machinery."""


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "SweepOutcome",
    "SweepSpec",
    "batch_spec",
    "design_table",
    "load_spec",
    "make_report",
    "parse_spec",
    "plan_runs",
    "read_design",
    "read_manifest",
    "read_results",
    "run_seed",
    "run_sweep",
    "spec_hash",
]


def make_report(out, **kwargs):
    """Summary tables, fan charts and sensitivity indices of a sweep folder (see :mod:`.report`)."""
    from agentmarket.experiments.report import make_report as _make_report

    return _make_report(out, **kwargs)
