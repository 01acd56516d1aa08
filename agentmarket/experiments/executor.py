"""Where many runs execute: in this process, in local processes, or on Dask.

Every many-run command (``batch``, ``sweep``, ``compare``, ``validate``, ``calibrate``,
``convergence``) splits its work the same way: a design says which runs there are (grid,
sampled points, seeds), one top-level function runs one of them (e.g.
:func:`agentmarket.experiments.runner.execute_run`), and an executor from
:func:`open_executor` decides where each call runs and hands the results back. This module is
the only one in the package that creates process pools or Dask clusters and clients.

Backends (``Executor.backend``):

``"sequential"``
    ``workers`` 1 and no scheduler: every call runs in this process, in the order given.
``"dask"``
    With ``scheduler`` (``tcp://HOST:PORT``): on that existing cluster. Otherwise, when
    ``workers`` > 1: on a local Dask cluster of ``workers`` single-thread worker processes,
    started for the block and stopped after it. This is the default for ``workers`` > 1
    because it is the same path as a remote cluster (a run behaves alike on a laptop and a
    cluster), and because Dask's nannies replace a worker that dies and its scheduler
    reschedules the runs that worker held.
``"processes"``
    A pool of ``workers`` spawned local processes (``backend="processes"``): it starts faster
    than a local cluster and needs no ports. A pool broken by a process that died is replaced
    and the runs it held are sent again, at most :data:`TASK_RETRIES` more times each.

``workers`` ``None`` means this machine's cores. ``runs``, when the caller knows it, caps the
workers at the number of runs, so that one run never starts a cluster.

Results never depend on the backend: each item carries everything its run needs, its seed
included, and runs share no state. :meth:`Executor.as_completed` pulls items lazily and keeps
a bounded window in flight, so memory stays flat however many runs there are, and yields
each result as it finishes (a sweep writes each run to disk at once). A scheduler that does
not answer within ``connect_timeout`` seconds, or a bad ``workers`` or ``scheduler``, is an
:class:`~agentmarket.errors.InputError` raised before any run starts.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from agentmarket.errors import InputError

Backend = Literal["sequential", "processes", "dask"]
BACKENDS: tuple[str, ...] = ("sequential", "processes", "dask")
CONNECT_TIMEOUT_S = 5.0
"""Seconds a scheduler given by address has to answer before the command gives up."""
WORKERS_TIMEOUT_S = 60.0
"""Seconds an existing cluster has to show at least one worker."""
TASK_RETRIES = 2
"""Times a run is sent again after the worker running it died (or, on Dask, after it raised)."""
RUNS_IN_FLIGHT_PER_WORKER = 4
"""Runs queued per worker thread: enough to keep every worker busy, few enough to keep memory flat."""
MIN_RUNS_IN_FLIGHT = 8

Errors = Literal["raise", "return"]


def machine_cores() -> int:
    """Cores this process may use (its CPU affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Executor:
    """Runs a top-level function over items; subclasses decide where.

    Attributes:
        backend: ``"sequential"``, ``"processes"`` or ``"dask"``.
        workers: worker processes (on Dask: worker threads of the cluster) when opened.
    """

    backend: Backend
    workers: int

    def as_completed(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, errors: Errors = "raise"
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` for every item, as each finishes.

        Args:
            fn: a picklable top-level function of one argument.
            items: the arguments; consumed lazily, a window at a time.
            errors: ``"raise"`` re-raises the first exception of a call (the runs still in
                flight are cancelled); ``"return"`` yields the exception as that item's result.
        """
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(item) for item in items]``, run on this executor; the first error is raised."""
        results: dict[int, Any] = dict(self.as_completed(fn, items))
        return [results[i] for i in range(len(results))]

    def window(self) -> int:
        """Runs kept in flight at once."""
        return max(MIN_RUNS_IN_FLIGHT, RUNS_IN_FLIGHT_PER_WORKER * self.workers)


class SequentialExecutor(Executor):
    """Every call in this process, one after the other, in the order of the items."""

    backend: Backend = "sequential"

    def __init__(self) -> None:
        """One worker: this process."""
        self.workers = 1

    def as_completed(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, errors: Errors = "raise"
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(item))`` in order (see :meth:`Executor.as_completed`)."""
        for index, item in enumerate(items):
            try:
                result = fn(item)
            except Exception as exc:
                if errors == "raise":
                    raise
                result = exc
            yield index, result


class ProcessExecutor(Executor):
    """A pool of spawned local processes, replaced when one of them dies."""

    backend: Backend = "processes"

    def __init__(self, workers: int) -> None:
        """A pool of ``workers`` processes, started on demand."""
        self.workers = workers
        self.pool = self.new_pool()

    def new_pool(self):
        """A fresh pool; spawned, not forked, so no thread of this process is copied mid-state."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def close(self) -> None:
        """Stop the pool's processes, cancelling runs not yet started."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    def as_completed(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, errors: Errors = "raise"
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(item))`` as each finishes (see :meth:`Executor.as_completed`)."""
        from concurrent.futures import FIRST_COMPLETED, CancelledError, wait
        from concurrent.futures.process import BrokenProcessPool

        source = enumerate(items)
        in_flight: dict[Any, tuple[int, Any, int, Any]] = {}  # future -> (index, item, attempt, pool)

        def send(index: int, item: Any, attempt: int) -> None:
            in_flight[self.pool.submit(fn, item)] = (index, item, attempt, self.pool)

        try:
            for index, item in source:
                send(index, item, 0)
                if len(in_flight) >= self.window():
                    break
            while in_flight:
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for future in done:
                    index, item, attempt, pool = in_flight.pop(future)
                    try:
                        result = future.result()
                    except (BrokenProcessPool, CancelledError) as exc:  # its process died, or its pool did
                        if pool is self.pool:
                            pool.shutdown(wait=False, cancel_futures=True)
                            self.pool = self.new_pool()
                        if attempt < TASK_RETRIES:
                            send(index, item, attempt + 1)
                            continue
                        if errors == "raise":
                            raise
                        result = exc
                    except Exception as exc:
                        if errors == "raise":
                            raise
                        result = exc
                    yield index, result
                    following = next(source, None)
                    if following is not None:
                        send(*following, 0)
        finally:
            for future in in_flight:
                future.cancel()


class DaskExecutor(Executor):
    """Runs on a Dask cluster through a client; the scheduler reschedules a dead worker's runs."""

    backend: Backend = "dask"

    def __init__(self, client) -> None:
        """Submit through ``client`` (a ``distributed.Client``, already connected)."""
        self.client = client
        self.workers = self.threads()

    def threads(self) -> int:
        """Worker threads the cluster has now."""
        return max(1, sum(self.client.nthreads().values()))

    def window(self) -> int:
        """Runs kept in flight, from the cluster's size now (a cluster may grow or shrink)."""
        return max(MIN_RUNS_IN_FLIGHT, RUNS_IN_FLIGHT_PER_WORKER * self.threads())

    def as_completed(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, errors: Errors = "raise"
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(item))`` as each finishes (see :meth:`Executor.as_completed`)."""
        from distributed import as_completed

        prefix = f"{getattr(fn, '__name__', 'run')}-{uuid.uuid4().hex[:12]}"
        source = enumerate(items)
        in_flight: dict[str, tuple[int, Any]] = {}
        queue = as_completed(loop=self.client.loop)

        def send(index: int, item: Any) -> None:
            future = self.client.submit(fn, item, key=f"{prefix}-{index}", retries=TASK_RETRIES, pure=False)
            in_flight[future.key] = (index, future)
            queue.add(future)

        try:
            for index, item in source:
                send(index, item)
                if len(in_flight) >= self.window():
                    break
            for future in queue:
                index, _ = in_flight.pop(future.key)
                try:
                    result = future.result()
                except Exception as exc:
                    if errors == "raise":
                        raise
                    result = exc
                future.release()
                yield index, result
                following = next(source, None)
                if following is not None:
                    send(*following)
        finally:
            for _, future in in_flight.values():
                future.cancel()


def check_workers(workers: int | None, scheduler: str | None) -> None:
    """Refuse a worker count below 1, a malformed address, or both options at once."""
    if workers is not None:
        try:
            whole = operator.index(workers)
        except TypeError:
            whole = None
        if whole is None or isinstance(workers, bool) or whole < 1:
            raise InputError(f"--workers must be a whole number of at least 1 (got {workers!r})")
    if scheduler is not None:
        if workers is not None:
            raise InputError("give --workers (local processes) or --scheduler (an existing cluster), not both")
        if "://" not in scheduler or not scheduler.split("://", 1)[1]:
            raise InputError(f"--scheduler {scheduler!r}: expected an address like tcp://HOST:PORT")


@contextlib.contextmanager
def connect(scheduler: str, connect_timeout: float = CONNECT_TIMEOUT_S):
    """A client of the existing cluster at ``scheduler``; bad input if it does not answer or has no workers."""
    from distributed import Client

    try:
        client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
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


@contextlib.contextmanager
def local_cluster(workers: int):
    """A client of a local Dask cluster of ``workers`` single-thread processes, stopped after the block."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


@contextlib.contextmanager
def open_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    *,
    backend: Backend | None = None,
    runs: int | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> Iterator[Executor]:
    """An executor for the block: sequential, local processes, or Dask (see the module docstring).

    Args:
        workers: worker processes to use (``None``: this machine's cores). Not with ``scheduler``.
        scheduler: address of an existing Dask scheduler, e.g. ``tcp://host:8786``.
        backend: force ``"sequential"``, ``"processes"`` or ``"dask"`` (default: sequential for
            one worker, a local Dask cluster for more, the cluster at ``scheduler`` if given).
        runs: how many runs the block will make, if known; caps the local workers.
        connect_timeout: seconds the scheduler has to answer.

    Raises:
        InputError: bad ``workers``, ``scheduler`` or ``backend``, or a scheduler that does
            not answer; always before any run starts.
    """
    check_workers(workers, scheduler)
    if backend is not None and backend not in BACKENDS:
        raise InputError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if scheduler is not None:
        if backend not in (None, "dask"):
            raise InputError(f"--scheduler runs on Dask; backend {backend!r} cannot use it")
        with connect(scheduler, connect_timeout) as client:
            yield DaskExecutor(client)
        return
    n = workers if workers is not None else machine_cores()
    if runs is not None:
        n = max(1, min(n, runs))
    chosen = backend or ("sequential" if n == 1 else "dask")
    if chosen == "sequential":
        yield SequentialExecutor()
    elif chosen == "processes":
        executor = ProcessExecutor(n)
        try:
            yield executor
        finally:
            executor.close()
    else:
        with local_cluster(n) as client:
            yield DaskExecutor(client)
