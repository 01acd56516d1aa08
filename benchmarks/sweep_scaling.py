"""How a sweep scales from one worker to two: the README's example spec, at a given developer count.

Runs ``examples/sweep-imitation.toml`` (the spec the README shows) with ``--developers``
developer agents per run, once on 1 worker and once on ``--workers`` workers, each into a
fresh folder, alternating ``--repeats`` times so that a change of load touches both. Prints,
per worker count, runs per second (wall clock, start of the workers included; one worker
runs in this process, as ``agentmarket sweep --workers 1`` does), runs per
second per core, and the ratio of the two, with the medians over the repeats; also the CPU
seconds a run takes inside a worker (the manifest's ``runtime_s``, a wall figure measured in
the worker) and the driver's own CPU seconds per run (receiving, writing the run's Parquet
file and its manifest line), which are what bounds the scaling on a machine with as many
cores as workers. Not a test: the figures depend on the machine and its load.

    .venv/bin/python benchmarks/sweep_scaling.py                       # 2,000 developers, 1 vs 2 workers
    .venv/bin/python benchmarks/sweep_scaling.py --developers 1000     # the spec's own size
    .venv/bin/python benchmarks/sweep_scaling.py --samples 64          # a sweep four times as long
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

import pandas as pd
import tomli_w

from agentmarket.bench import count_at_least
from agentmarket.errors import InputError
from agentmarket.experiments import load_spec, run_sweep

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweep-imitation.toml"


def spec_at(developers: int, months: int | None, folder: Path, samples: int | None = None) -> Path:
    """The README's example spec with another developer count (and, optionally, horizon and design size)."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data.setdefault("set", {})["simulation.developer_agents"] = developers
    if months is not None:
        data["months"] = months
    if samples is not None:
        data["design"]["samples"] = samples
    path = folder / "sweep-imitation.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def time_sweep(spec_path: Path, workers: int, backend: str | None = None) -> dict:
    """One whole sweep into a fresh folder: wall seconds, driver CPU seconds, worker seconds per run."""
    out = Path(tempfile.mkdtemp(prefix=f"sweep-scaling-{workers}w-"))
    shutil.rmtree(out)
    try:
        cpu, start = time.process_time(), time.perf_counter()
        outcome = run_sweep(load_spec(spec_path), out, workers=workers, progress=False, backend=backend)
        seconds, driver_cpu = time.perf_counter() - start, time.process_time() - cpu
        lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.strip()]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    runs = outcome.ok
    assert runs == outcome.runs and not outcome.failed, outcome
    run_s = pd.Series([line["runtime_s"] for line in lines])
    return {
        "workers": workers,
        "runs": runs,
        "seconds": seconds,
        "runs_per_s": runs / seconds,
        "runs_per_s_per_core": runs / seconds / workers,
        "run_s_median": float(run_s.median()),
        "driver_cpu_s_per_run": driver_cpu / runs,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    """Time the sweep on 1 and on ``--workers`` workers, alternating, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--developers", type=count_at_least(1), default=2000, help="developer agents per run")
    parser.add_argument("--months", type=count_at_least(1), default=None, help="months per run (default: the spec's)")
    parser.add_argument(
        "--samples",
        type=count_at_least(1),
        default=None,
        help="the design's base samples (default: the spec's 16, 160 runs)",
    )
    parser.add_argument("--workers", type=count_at_least(1), default=2, help="workers of the parallel sweep")
    parser.add_argument("--repeats", type=count_at_least(1), default=2, help="alternating pairs of sweeps")
    parser.add_argument(
        "--backend",
        default=None,
        help="executor backend of the parallel sweep (default: the sweep's, a local Dask cluster)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sweep-scaling-spec-"))
    try:
        spec_path = spec_at(args.developers, args.months, folder, args.samples)
        try:
            load_spec(spec_path)  # the spec's own bounds, checked before any sweep
        except InputError as error:
            parser.error(str(error))  # one line and exit status 2; the folder goes in ``finally``
        print(
            f"{EXAMPLE.name} at {args.developers} developer agents, {args.samples or 'its'} samples; "
            f"{os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        rows = []
        for _ in range(args.repeats):
            for workers in (1, args.workers):
                r = time_sweep(spec_path, workers, None if workers == 1 else args.backend)
                rows.append(r)
                print(
                    f"{workers} worker(s): {r['runs']} runs in {r['seconds']:.1f} s, {r['runs_per_s']:.2f} runs/s, "
                    f"{r['runs_per_s_per_core']:.2f} runs/s/core; a run {r['run_s_median']:.3f} s in its worker, "
                    f"driver {r['driver_cpu_s_per_run'] * 1e3:.1f} CPU ms per run; load {r['load_average']:.1f}"
                )
        one = [r for r in rows if r["workers"] == 1]
        many = [r for r in rows if r["workers"] == args.workers]
        ratios = [m["runs_per_s"] / o["runs_per_s"] for o, m in zip(one, many, strict=True)]
        summary = {
            "developers": args.developers,
            "samples": args.samples,
            "workers": args.workers,
            "ratio_median": statistics.median(ratios),
            "ratios": ratios,
            "runs_per_s_per_core": {
                "1": statistics.median(r["runs_per_s_per_core"] for r in one),
                str(args.workers): statistics.median(r["runs_per_s_per_core"] for r in many),
            },
            "sweeps": rows,
        }
        print(
            f"{args.workers} workers / 1 worker: median {summary['ratio_median']:.2f} (each pair: "
            + ", ".join(f"{x:.2f}" for x in ratios)
            + "; aim >= 1.8)"
        )
        print(json.dumps(summary))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
