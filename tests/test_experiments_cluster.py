"""Sweeps on real Dask processes: a worker killed mid-sweep, a sweep killed and resumed,
the same results on one and two workers, and Sobol indices that find the parameter that matters."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from agentmarket.errors import InputError
from agentmarket.experiments import load_spec, read_manifest, read_results, run_sweep
from agentmarket.experiments.store import read_manifest_lines
from agentmarket.scenarios import SCENARIO_DIR

pytestmark = [pytest.mark.cluster, pytest.mark.xdist_group("dask")]

BIN = Path(sys.executable).parent
WAIT_S = 180  # a deadline for processes to come up or finish, never a measured figure


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """End a process this test started (and its process group, if it leads one)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
    proc.wait(timeout=30)


def wait_for(condition, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def manifest_lines(out: Path) -> int:
    path = out / "manifest.jsonl"
    return path.read_text().count("\n") if path.exists() else 0


def write_spec(folder: Path, name: str, body: str) -> Path:
    """A spec over a private copy of the baseline scenario, so edits elsewhere cannot change it."""
    scenario = folder / "base.toml"
    if not scenario.exists():
        shutil.copyfile(SCENARIO_DIR / "baseline.toml", scenario)
    path = folder / f"{name}.toml"
    path.write_text(f'scenario = "{scenario}"\n{body}')
    return path


GRID = """
seed = 42
months = 30
replicates = {replicates}
set = {{ "simulation.developer_agents" = 400 }}

[parameters."adoption.imitation"]
values = {values}

[outputs]
metrics = ["market.adoption_share", "lab_a.revenue"]
keep = "series"
"""


def ordered(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["run_id", "date", "entity", "metric"], kind="stable").reset_index(drop=True)


def assert_each_run_once(out: Path, expected: int) -> list[dict]:
    lines = read_manifest_lines(out)
    counts = Counter(line["run_id"] for line in lines)
    assert len(counts) == expected
    assert set(counts.values()) == {1}, f"runs recorded twice: {[k for k, v in counts.items() if v > 1]}"
    assert {line["status"] for line in lines} == {"ok"}
    assert all((out / line["file"]).is_file() for line in lines)
    return lines


def sweep_cli(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "agentmarket"), "sweep", *args, "--quiet"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def dask_cluster(tmp_path: Path):
    """A real ``dask scheduler`` and two single-thread ``dask worker`` processes on 127.0.0.1."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    common = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    try:
        procs.append(
            subprocess.Popen(
                [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **common
            )
        )
        workers = []
        for i in range(2):
            cmd = [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
            workers.append(subprocess.Popen([*cmd, "--name", f"w{i}", "--host", "127.0.0.1"], **common))
        procs.extend(workers)
        with Client(address, timeout=WAIT_S, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=WAIT_S)
        yield address, workers
    finally:
        for proc in reversed(procs):
            stop(proc)


def test_a_worker_killed_mid_sweep_loses_no_run(tmp_path: Path, dask_cluster) -> None:
    address, workers = dask_cluster
    spec = write_spec(tmp_path, "grid", GRID.format(replicates=5, values=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    out = tmp_path / "out"
    sweep = sweep_cli(str(spec), "--out", str(out), "--scheduler", address, cwd=tmp_path)
    try:
        wait_for(lambda: manifest_lines(out) >= 4, "four runs to finish", sweep)
        workers[0].kill()
        workers[0].wait(timeout=30)
        at_kill = manifest_lines(out)
        _stdout, stderr = sweep.communicate(timeout=WAIT_S)
    finally:
        stop(sweep)
    assert sweep.returncode == 0, stderr
    assert at_kill < 30 - 8, "the sweep (nearly) finished before the worker was killed"
    lines = assert_each_run_once(out, 30)
    after_kill = lines[at_kill + 8 :]  # after the runs in flight at the kill
    assert after_kill, "the sweep finished before the runs in flight at the kill were done"
    assert len({line["worker"] for line in after_kill}) == 1, "runs after the kill came from more than one worker"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """An uninterrupted sweep on one local worker: the results every other way must reproduce."""
    folder = tmp_path_factory.mktemp("reference")
    spec = write_spec(folder, "grid", GRID.format(replicates=5, values=[0.2, 0.4, 0.6, 0.8]))
    outcome = run_sweep(load_spec(spec), folder / "out", workers=1, progress=False)
    assert (outcome.ok, outcome.failed) == (20, 0)
    return spec, ordered(read_results(folder / "out"))


def test_two_workers_give_the_results_of_one(tmp_path: Path, reference) -> None:
    spec, expected = reference
    outcome = run_sweep(load_spec(spec), tmp_path / "out", workers=2, progress=False)
    assert outcome.ok == 20
    got = ordered(read_results(tmp_path / "out"))
    pd.testing.assert_frame_equal(got, expected)
    assert got.groupby("run_id")["value"].sum().nunique() > 10  # the seeds matter: runs differ


def test_a_killed_sweep_resumes_without_rerunning_finished_runs(tmp_path: Path, reference) -> None:
    spec, expected = reference
    out = tmp_path / "out"
    first = sweep_cli(str(spec), "--out", str(out), "--workers", "2", cwd=tmp_path)
    try:
        wait_for(lambda: manifest_lines(out) >= 5, "five runs to finish", first)
        first.send_signal(signal.SIGKILL)  # the client alone, as kill -9 would
        first.wait(timeout=30)
        before = read_manifest_lines(out)
    finally:
        stop(first)  # its local workers, orphaned by the kill
    assert 5 <= len(before) < 20, "the sweep finished before it was killed"
    with pytest.raises(InputError, match="--resume"):
        run_sweep(load_spec(spec), out, workers=1, progress=False)
    second = sweep_cli(str(spec), "--out", str(out), "--workers", "2", "--resume", cwd=tmp_path)
    try:
        stdout, stderr = second.communicate(timeout=WAIT_S)
    finally:
        stop(second)
    assert second.returncode == 0, stderr
    assert f"{len(before)} done before" in stdout
    lines = assert_each_run_once(out, 20)
    assert lines[: len(before)] == before
    pd.testing.assert_frame_equal(ordered(read_results(out)), expected)


def test_sobol_indices_rank_the_driving_parameter_first(tmp_path: Path) -> None:
    # developers.client_zipf_exponent only shapes the API clients' sizes, not who adopts;
    # common random numbers let a parameter without effect show none
    body = """
seed = 7
months = 36
common_random_numbers = true
set = { "simulation.developer_agents" = 500 }

[design]
kind = "sobol"
samples = 8

[parameters."adoption.imitation"]
min = 0.05
max = 0.6

[parameters."developers.client_zipf_exponent"]
min = 0.8
max = 2.0

[outputs]
metrics = ["market.adoption_share"]
keep = "summary"
"""
    out = tmp_path / "out"
    outcome = run_sweep(load_spec(write_spec(tmp_path, "sobol", body)), out, workers=2, progress=False)
    assert (outcome.ok, outcome.failed) == (32, 0)
    from agentmarket.experiments import make_report

    report = make_report(out)
    indices = pd.read_csv(report.folder / "sensitivity.csv").set_index("parameter")
    imitation = indices.loc["adoption.imitation"]
    null = indices.loc["developers.client_zipf_exponent"]
    assert imitation["ST"] > null["ST"]
    assert imitation["S1"] > null["S1"]
    assert imitation["ST"] > 0.5
    assert report.page.is_file() and any(p.name.startswith("sensitivity-") for p in report.figures)
    assert len(read_manifest(out)) == 32


def test_seeds_run_on_an_existing_cluster_give_the_tables_of_this_process(dask_cluster) -> None:
    from agentmarket.calibration.validate import run_seeds
    from agentmarket.scenarios import load_scenario

    address, _workers = dask_cluster
    params = load_scenario("baseline", {"simulation.months": 12, "simulation.developer_agents": 300})
    here = run_seeds(params, range(3), workers=1)
    there = run_seeds(params, range(3), workers=None, scheduler=address)
    assert len(there) == 3
    for local, remote in zip(here, there, strict=True):
        pd.testing.assert_frame_equal(remote, local, check_exact=True)
    assert here[0]["value"].sum() != here[1]["value"].sum(), "the seeds matter: runs differ"
