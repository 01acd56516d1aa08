"""Running a sweep on Dask: a local cluster sized to the machine, or an existing one.

Runs are submitted a window at a time and written as they finish, so the client's memory
stays flat however many runs a sweep has. A worker that dies has its runs rescheduled by
Dask on the others; a run whose model raises is recorded as failed and the sweep goes on.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmarket.errors import InputError
from agentmarket.experiments.design import Run, design_table, plan_runs, point_overrides
from agentmarket.experiments.runner import RunResult, RunTask, execute_run, one_line
from agentmarket.experiments.spec import SweepSpec, base_params, base_raw, select_metrics, spec_hash
from agentmarket.experiments.store import Manifest, check_dir, finished_ids, init_dir, manifest_record, write_run
from agentmarket.scenarios import apply_overrides, validate

CONNECT_TIMEOUT_S = 5.0
WORKERS_TIMEOUT_S = 60.0
TASK_RETRIES = 2
RUNS_IN_FLIGHT_PER_THREAD = 4


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


def machine_cores() -> int:
    """Cores this process may use (CPU affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None, connect_timeout: float = CONNECT_TIMEOUT_S):
    """A Dask client: on ``scheduler`` if given, else on a local cluster that ends with the block.

    A scheduler that does not answer within ``connect_timeout`` seconds is bad input.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        if "://" not in scheduler:
            raise InputError(f"--scheduler {scheduler!r}: expected an address like tcp://HOST:PORT")
        try:
            client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                f"--scheduler {scheduler!r} did not answer within {connect_timeout:g} s ({type(exc).__name__})"
            ) from None
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            client.close()
            raise InputError(f"--scheduler {scheduler!r} has no workers after {WORKERS_TIMEOUT_S:g} s") from None
        with client:
            yield client
        return
    n = workers or machine_cores()
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def check_points(spec: SweepSpec, raw: dict[str, Any], design) -> None:
    """Validate every design point as a scenario before the first run starts."""
    for point in design["point"].tolist():
        overrides = point_overrides(design, point)
        shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        validate(apply_overrides(raw, overrides), origin=f"design point {point} ({shown})")


def make_tasks(spec: SweepSpec, runs: list[Run], design) -> Iterator[RunTask]:
    """The worker payload of each run, built lazily so that memory does not grow with the sweep."""
    raw = base_raw(spec)
    metrics = tuple(select_metrics(spec.outputs.metrics, base_params(spec)))
    for run in runs:
        yield RunTask(run, raw, point_overrides(design, run.point), metrics, spec.outputs.keep)


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


def submit(client, task: RunTask, digest: str):
    """Send one run to the cluster under a stable key; Dask retries it if its worker dies."""
    key = f"agentmarket-{digest}-{task.run.run_id}"
    return client.submit(execute_run, task, key=key, retries=TASK_RETRIES, pure=False)


def execute_all(client, tasks: Iterator[RunTask], out: Path, digest: str, manifest: Manifest, bar) -> tuple[int, int]:
    """Run every task, a window at a time, writing each result as it arrives; (ok, failed) counts."""
    from distributed import as_completed

    window = max(8, RUNS_IN_FLIGHT_PER_THREAD * sum(client.nthreads().values()))
    pending: dict[Any, RunTask] = {}
    queue = as_completed(loop=client.loop)
    for task in itertools.islice(tasks, window):
        future = submit(client, task, digest)
        pending[future.key] = task
        queue.add(future)
    ok = failed = 0
    for future in queue:
        task = pending.pop(future.key)
        try:
            result = future.result()
        except Exception as exc:
            result = lost_result(task, exc)
        future.release()
        record_result(out, result, task, digest, manifest)
        ok += result.status == "ok"
        failed += result.status != "ok"
        bar.update(1)
        bar.set_postfix(failed=failed)
        following = next(tasks, None)
        if following is not None:
            future = submit(client, following, digest)
            pending[future.key] = following
            queue.add(future)
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
) -> SweepOutcome:
    """Run every run of ``spec`` not yet finished in ``out`` and write each as it finishes.

    ``workers`` sizes a local cluster (default: this machine's cores); ``scheduler`` is the
    address of an existing one. With ``resume``, runs already recorded as finished in ``out``
    are skipped; ``out`` must then hold this same sweep.
    """
    out = Path(out)
    started = time.perf_counter()
    digest = spec_hash(spec)
    design = design_table(spec)
    runs = plan_runs(spec, design)
    check_points(spec, base_raw(spec), design)
    existing = check_dir(out, digest, len(runs), resume)
    done = finished_ids(out) if existing else set()
    todo = [r for r in runs if r.run_id not in done]
    ok = failed = 0
    if todo:
        with open_client(workers, scheduler, connect_timeout) as client:
            if not existing:
                init_dir(out, spec, digest, design, len(runs))
            with Manifest(out) as manifest, make_progress(len(runs), len(runs) - len(todo), progress) as bar:
                ok, failed = execute_all(client, make_tasks(spec, todo, design), out, digest, manifest, bar)
    return SweepOutcome(out, len(runs), len(runs) - len(todo), ok, failed, time.perf_counter() - started, digest)
