"""Throughput of a sweep on each backend of the executor, against Mesa's ``batch_run``.

The same runs every way: a grid of ``--points`` imitation values times ``--replicates`` seeds
of the baseline scenario (common random numbers, so replicate r has one seed at every point,
as ``batch_run``'s ``rng`` list gives). Our sweep runs on one worker (in this process), on a
local Dask cluster of two workers, and on a pool of two local processes, and writes every run
to disk as it finishes; ``batch_run`` runs in this process and keeps every result in memory.

Prints runs per second (wall clock, cluster start included), the ratios, and the memory the
driving process gained. Not a test: the figures depend on the machine and its load.

    .venv/bin/python benchmarks/sweep_throughput.py            # 200 runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import mesa
import numpy as np
import psutil

from agentmarket.bench import count_at_least
from agentmarket.errors import InputError
from agentmarket.experiments import load_spec, run_sweep
from agentmarket.experiments.design import run_seed
from agentmarket.experiments.spec import base_raw
from agentmarket.model import MarketModel
from agentmarket.scenarios import apply_overrides, validate

SPEC = """
name = "throughput"
scenario = "baseline"
seed = 1
months = {months}
replicates = {replicates}
common_random_numbers = true
set = {{ "simulation.developer_agents" = {developers} }}

[parameters."adoption.imitation"]
values = {values}

[outputs]
metrics = ["market.*"]
keep = "series"
"""

BASE_RAW: dict = {}


class ImitationModel(MarketModel):
    """MarketModel with keyword parameters, the form ``mesa.batch_run`` builds models with."""

    def __init__(self, imitation: float = 0.35, rng=None) -> None:
        params = validate(apply_overrides(BASE_RAW, {"adoption.imitation": imitation}))
        super().__init__(params, rng=rng)


class RssSampler:
    """The driving process's resident memory (MB), sampled with the runs finished so far."""

    def __init__(self, manifest: Path | None = None) -> None:
        self.manifest = manifest
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.start_mb = self.rss_mb()

    @staticmethod
    def rss_mb() -> float:
        return psutil.Process().memory_info().rss / 1e6

    def _done(self) -> int:
        if self.manifest is None or not self.manifest.exists():
            return 0
        return self.manifest.read_bytes().count(b"\n")

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.samples.append((self._done(), self.rss_mb()))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((self._done(), self.rss_mb()))

    def at_fraction(self, runs: int, fraction: float) -> float:
        """Memory when ``fraction`` of the runs had finished."""
        return next((mb for done, mb in self.samples if done >= fraction * runs), self.samples[-1][1])


def time_sweep(spec_path: Path, workers: int, runs: int, backend: str | None = None) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"sweep-bench-{workers}w-"))
    shutil.rmtree(out)
    try:
        with RssSampler(out / "manifest.jsonl") as mem:
            start = time.perf_counter()
            outcome = run_sweep(load_spec(spec_path), out, workers=workers, backend=backend, progress=False)
            seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert outcome.ok == runs, outcome
    return {
        "seconds": seconds,
        "runs_per_s": runs / seconds,
        "rss_start_mb": mem.start_mb,
        "rss_half_mb": mem.at_fraction(runs, 0.5),
        "rss_end_mb": mem.at_fraction(runs, 1.0),
    }


def time_batch_run(values: list[float], seeds: list[int], months: int) -> dict:
    with RssSampler() as mem:
        start = time.perf_counter()
        results = mesa.batch_run(
            ImitationModel,
            parameters={"imitation": values},
            rng=seeds,
            max_steps=months,
            data_collection_period=1,
            number_processes=1,
            display_progress=False,
        )
        seconds = time.perf_counter() - start
    runs = len(values) * len(seeds)
    return {
        "seconds": seconds,
        "runs_per_s": runs / seconds,
        "rows_in_memory": len(results),
        "rss_start_mb": mem.start_mb,
        "rss_end_mb": mem.samples[-1][1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=count_at_least(1), default=20, help="imitation values (design points)")
    parser.add_argument("--replicates", type=count_at_least(1), default=10, help="seeds per point")
    parser.add_argument("--months", type=count_at_least(1), default=24)
    parser.add_argument("--developers", type=count_at_least(1), default=1000, help="developer agents per run")
    args = parser.parse_args()
    values = [round(float(v), 4) for v in np.linspace(0.1, 0.6, args.points)]
    runs = args.points * args.replicates
    folder = Path(tempfile.mkdtemp(prefix="sweep-bench-spec-"))
    spec_path = folder / "throughput.toml"
    spec_path.write_text(
        SPEC.format(months=args.months, replicates=args.replicates, developers=args.developers, values=values)
    )
    try:
        spec = load_spec(spec_path)
    except InputError as error:
        shutil.rmtree(folder, ignore_errors=True)
        parser.error(str(error))  # one line and exit status 2
    BASE_RAW.update(base_raw(spec))
    seeds = [run_seed(spec, 0, r) for r in range(args.replicates)]  # the sweep's own seeds

    print(
        f"{runs} runs ({args.points} points x {args.replicates} seeds), {args.months} months, "
        f"{args.developers} developer agents; {os.cpu_count()} cores, {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    one = time_sweep(spec_path, 1, runs)
    print(f"sweep, 1 worker (this process)  : {one['runs_per_s']:6.2f} runs/s ({one['seconds']:.1f} s)")
    two = time_sweep(spec_path, 2, runs)
    print(f"sweep, 2 workers (local Dask)   : {two['runs_per_s']:6.2f} runs/s ({two['seconds']:.1f} s)")
    pool = time_sweep(spec_path, 2, runs, backend="processes")
    print(f"sweep, 2 workers (process pool) : {pool['runs_per_s']:6.2f} runs/s ({pool['seconds']:.1f} s)")
    base = time_batch_run(values, seeds, args.months)
    print(f"mesa.batch_run, in this process : {base['runs_per_s']:6.2f} runs/s ({base['seconds']:.1f} s)")
    ratios = {
        "two_over_one_worker": two["runs_per_s"] / one["runs_per_s"],
        "two_workers_over_batch_run": two["runs_per_s"] / base["runs_per_s"],
        "one_worker_over_batch_run": one["runs_per_s"] / base["runs_per_s"],
        "process_pool_over_dask": pool["runs_per_s"] / two["runs_per_s"],
    }
    print(f"ratio 2 workers / 1 worker  : {ratios['two_over_one_worker']:.2f} (aim >= 1.7)")
    print(f"ratio 2 workers / batch_run : {ratios['two_workers_over_batch_run']:.2f} (aim >= 1)")
    print(f"ratio 1 worker  / batch_run : {ratios['one_worker_over_batch_run']:.2f}")
    print(f"ratio process pool / Dask   : {ratios['process_pool_over_dask']:.2f}")
    print(
        f"driver memory, sweep on 2 workers: {two['rss_start_mb']:.0f} MB at start, {two['rss_half_mb']:.0f} MB "
        f"at half the runs, {two['rss_end_mb']:.0f} MB at the end"
    )
    print(
        f"driver memory, batch_run: {base['rss_start_mb']:.0f} MB at start, {base['rss_end_mb']:.0f} MB at the end, "
        f"{base['rows_in_memory']:,} result rows held"
    )
    print(
        json.dumps(
            {
                "runs": runs,
                "sweep_1": one,
                "sweep_2": two,
                "sweep_2_processes": pool,
                "batch_run": base,
                "ratios": ratios,
            }
        )
    )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
