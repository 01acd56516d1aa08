"""Running a sweep: every run of the design on an executor, each written as it finishes.

The runs go to :func:`~agentmarket.experiments.executor.open_executor` (in this process, a
local Dask cluster sized to the machine, or an existing cluster). Runs are pulled a window at
a time and written as they finish, so the driver's memory stays flat however many runs a
sweep has, and a sweep that is stopped resumes without rerunning what it wrote. A worker that
dies has its runs rescheduled on the others; a run whose model raises is recorded as failed
and the sweep goes on.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmarket.experiments.design import Run, design_table, plan_runs, point_overrides
from agentmarket.experiments.executor import CONNECT_TIMEOUT_S, Backend, Executor, check_workers, open_executor
from agentmarket.experiments.runner import RunResult, RunTask, execute_run, one_line
from agentmarket.experiments.spec import SweepSpec, base_params, base_raw, select_metrics, spec_hash
from agentmarket.experiments.store import Manifest, check_dir, finished_ids, init_dir, manifest_record, write_run
from agentmarket.scenarios import apply_overrides, validate


@dataclass(frozen=True)
class SweepOutcome:
    """How a sweep call ended: runs in the sweep, done before it, run now (ok, failed), seconds."""

    out: Path
    runs: int
    skipped: int
    ok: int
    failed: int
    seconds: float
    spec_hash: str


def check_points(spec: SweepSpec, raw: dict[str, Any], design) -> None:
    """Validate every design point as a scenario before the first run starts."""
    for point in design["point"].tolist():
        overrides = point_overrides(design, point)
        shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        validate(apply_overrides(raw, overrides), origin=f"design point {point} ({shown})")


def make_tasks(spec: SweepSpec, runs: list[Run], design, posterior=None) -> Iterator[RunTask]:
    """The worker payload of each run, built lazily so that memory does not grow with the sweep.

    With a ``posterior``, each run's free parameters are drawn from it by the run's seed.
    """
    raw = base_raw(spec)
    metrics = tuple(select_metrics(spec.outputs.metrics, base_params(spec)))
    for run in runs:
        overrides = point_overrides(design, run.point)
        if posterior is not None:
            overrides = {**overrides, **posterior.draw(run.seed)}
        yield RunTask(run, raw, overrides, metrics, spec.outputs.keep)


def lost_result(task: RunTask, exc: BaseException) -> RunResult:
    """A run whose task could not finish on any worker (e.g. it killed every worker it met)."""
    return RunResult(task.run, "failed", 0.0, error=f"the task did not finish: {one_line(exc)}", worker="")


def make_progress(total: int, initial: int, enabled: bool):
    """A progress bar of runs done, with the failures so far and the time left."""
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total, initial=initial, unit="run", desc="sweep", disable=not enabled, dynamic_ncols=True, mininterval=0.5
    )
    bar.set_postfix(failed=0)
    return bar


def execute_all(executor: Executor, tasks: Iterator[RunTask], out: Path, digest: str, manifest: Manifest, bar):
    """Run every task on ``executor``, writing each result as it arrives; (ok, failed) counts."""
    pending: dict[int, RunTask] = {}

    def feed() -> Iterator[RunTask]:
        for index, task in enumerate(tasks):
            pending[index] = task
            yield task

    ok = failed = 0
    for index, outcome in executor.as_completed(execute_run, feed(), errors="return"):
        task = pending.pop(index)
        result = lost_result(task, outcome) if isinstance(outcome, BaseException) else outcome
        record_result(out, result, task, digest, manifest)
        ok += result.status == "ok"
        failed += result.status != "ok"
        bar.update(1)
        bar.set_postfix(failed=failed)
    return ok, failed


def record_result(out: Path, result: RunResult, task: RunTask, digest: str, manifest: Manifest) -> None:
    """Write the run's file, then its manifest line: a run is finished once both are on disk."""
    file = write_run(out, result)
    manifest.append(manifest_record(result, task.overrides, digest, file))


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    backend: Backend | None = None,
    posterior=None,
) -> SweepOutcome:
    """Run every run of ``spec`` not yet finished in ``out`` and write each as it finishes.

    ``workers``, ``scheduler`` and ``backend`` choose where the runs go, as in
    :func:`~agentmarket.experiments.executor.open_executor` (default: a local Dask cluster
    of this machine's cores). With ``resume``, runs already recorded as finished in ``out``
    are skipped; ``out`` must then hold this same sweep. With a ``posterior``
    (:class:`~agentmarket.calibration.posterior.Posterior`) each run draws its free parameters
    from it by its seed; the posterior's digest is part of the sweep's hash.
    """
    check_workers(workers, scheduler)
    out = Path(out)
    started = time.perf_counter()
    digest = spec_hash(spec)
    if posterior is not None:
        posterior.check(base_raw(spec))
        digest = hashlib.sha256(f"{digest}:{posterior.digest}".encode()).hexdigest()[:16]
    design = design_table(spec)
    runs = plan_runs(spec, design)
    check_points(spec, base_raw(spec), design)
    existing = check_dir(out, digest, len(runs), resume)
    done = finished_ids(out) if existing else set()
    todo = [r for r in runs if r.run_id not in done]
    ok = failed = 0
    if todo:
        with open_executor(
            workers, scheduler, backend=backend, runs=len(todo), connect_timeout=connect_timeout
        ) as executor:
            if not existing:
                init_dir(out, spec, digest, design, len(runs))
            with Manifest(out) as manifest, make_progress(len(runs), len(runs) - len(todo), progress) as bar:
                tasks = make_tasks(spec, todo, design, posterior)
                ok, failed = execute_all(executor, tasks, out, digest, manifest, bar)
    return SweepOutcome(out, len(runs), len(runs) - len(todo), ok, failed, time.perf_counter() - started, digest)
