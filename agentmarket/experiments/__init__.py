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

from agentmarket.experiments.batch import batch_spec
from agentmarket.experiments.design import design_table, plan_runs, run_seed
from agentmarket.experiments.spec import SweepSpec, load_spec, parse_spec, spec_hash
from agentmarket.experiments.store import read_design, read_manifest, read_results
from agentmarket.experiments.sweep import SweepOutcome, run_sweep

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
