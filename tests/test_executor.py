"""One executor for every many-run command: the same seeds give the same results on every
backend, results come back whole and in order, a dead worker's runs are sent again, bad
options are refused, and no other module of the package starts processes or clusters."""

from __future__ import annotations

import operator
import os
import re
from pathlib import Path

import pandas as pd
import pytest

import agentmarket
from agentmarket.errors import InputError
from agentmarket.experiments import batch_spec, read_results, run_sweep
from agentmarket.experiments.executor import open_executor

PACKAGE = Path(agentmarket.__file__).parent
EXECUTOR = PACKAGE / "experiments" / "executor.py"
STARTS_WORKERS = re.compile(
    r"ProcessPoolExecutor|multiprocessing|LocalCluster|\bClient\(|mp\.Pool|\bPool\(|from distributed|import distributed"
)


def tiny_batch_results(tmp_path: Path, backend: str) -> pd.DataFrame:
    """A batch of three seeds, 12 months, 300 developers, run on ``backend``; its tidy rows."""
    spec = batch_spec("baseline", 3, ["simulation.developer_agents=300"], seed=5, months=12, metrics=["*.*"])
    out = tmp_path / backend
    workers = 1 if backend == "sequential" else 2
    outcome = run_sweep(spec, out, workers=workers, backend=backend, progress=False)
    assert (outcome.ok, outcome.failed) == (3, 0)
    table = read_results(out)
    return table.sort_values(["run_id", "date", "entity", "metric"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def sequential_rows(tmp_path_factory) -> pd.DataFrame:
    return tiny_batch_results(tmp_path_factory.mktemp("batch"), "sequential")


def test_the_seeds_matter_in_the_reference_batch(sequential_rows: pd.DataFrame) -> None:
    totals = sequential_rows.groupby("run_id")["value"].sum()
    assert totals.nunique() == 3, "three seeds should give three different runs"
    assert sequential_rows["entity"].nunique() > 5, "the batch keeps market, lab, cloud and layer rows"


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_every_backend_gives_the_tables_of_the_sequential_one(
    tmp_path: Path, sequential_rows: pd.DataFrame, backend: str
) -> None:
    pd.testing.assert_frame_equal(tiny_batch_results(tmp_path, backend), sequential_rows, check_exact=True)


@pytest.fixture(scope="module")
def pool():
    """Two local processes, shared by the tests below (starting processes is the slow part)."""
    with open_executor(2, backend="processes") as ex:
        yield ex


def test_map_keeps_the_order_of_the_items_and_as_completed_yields_each_once(pool) -> None:
    items = list(range(40))
    assert pool.backend == "processes" and pool.workers == 2
    assert pool.map(operator.neg, items) == [-i for i in items]
    assert sorted(pool.as_completed(operator.neg, iter(items))) == [(i, -i) for i in items]


def test_one_worker_runs_in_this_process_in_order() -> None:
    with open_executor(1) as ex:
        assert (ex.backend, ex.workers) == ("sequential", 1)
        assert list(ex.as_completed(operator.neg, [3, 1, 2])) == [(0, -3), (1, -1), (2, -2)]


def test_runs_cap_the_workers_so_one_run_starts_no_pool() -> None:
    with open_executor(8, runs=1) as ex:
        assert ex.backend == "sequential"


@pytest.mark.parametrize("backend", ["sequential", "processes"])
def test_an_error_is_raised_or_returned_as_asked(backend: str, pool) -> None:
    with open_executor(1) as sequential:
        ex = pool if backend == "processes" else sequential
        with pytest.raises(ZeroDivisionError):
            ex.map(divide, [(1, 1), (1, 0)])
        outcomes = dict(ex.as_completed(divide, [(4, 2), (1, 0)], errors="return"))
    assert outcomes[0] == 2.0 and isinstance(outcomes[1], ZeroDivisionError)


def divide(pair: tuple[float, float]) -> float:
    return pair[0] / pair[1]


def die_once(marker: str) -> int:
    """End this worker process abruptly the first time it meets ``marker``; return its pid after."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os._exit(1)
    return os.getpid()


def test_a_dead_process_has_its_runs_sent_again(tmp_path: Path, pool) -> None:
    marker = tmp_path / "died"
    lethal = str(marker)
    survivors = [str(tmp_path / f"m{i}") for i in range(3)]
    for path in survivors:
        Path(path).write_text("already")
    pids = pool.map(die_once, [lethal, *survivors])
    assert marker.read_text() == "died", "the first attempt must have ended its process"
    assert all(isinstance(pid, int) and pid != os.getpid() for pid in pids)
    assert pool.map(operator.neg, [1, 2]) == [-1, -2], "the pool still works after the loss"


@pytest.mark.parametrize(
    ("workers", "scheduler", "message"),
    [
        (0, None, "--workers must be a whole number of at least 1 (got 0)"),
        (-3, None, "at least 1"),
        (2, "tcp://127.0.0.1:8786", "not both"),
        (None, "127.0.0.1:8786", "expected an address like tcp://HOST:PORT"),
        (None, "tcp://", "expected an address like tcp://HOST:PORT"),
    ],
)
def test_bad_workers_or_scheduler_are_refused_before_anything_starts(workers, scheduler, message) -> None:
    with pytest.raises(InputError, match=re.escape(message)), open_executor(workers, scheduler):
        pass


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(InputError, match="sequential, processes, dask"), open_executor(1, backend="threads"):
        pass


def test_only_the_executor_starts_process_pools_or_dask_clusters() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != EXECUTOR and STARTS_WORKERS.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert STARTS_WORKERS.search(EXECUTOR.read_text(encoding="utf-8")), "the pattern must match what it guards"
