"""Every bundled scenario's tidy table, held as hashes, so a change meant to change no behaviour can prove it.

Each scenario runs at two seeds for 24 months with 2,000 developer agents; the hash covers every row
of the tidy table (date, entity and metric as text, the value's exact float64 bytes), sorted. The
hashes live in ``tests/golden_hashes.json``.

numpy picks its vector routines by the processor: its ``exp`` and ``log`` on AVX-512 differ from
those on AVX2 in the last bit of some values, and OpenBLAS picks its dot-product kernels the same
way. So the tables are made in a child interpreter held to one level, numpy's AVX2 routines
(:data:`PINNED_SIMD`, the higher levels switched off with ``NPY_DISABLE_CPU_FEATURES``) and
OpenBLAS's Haswell kernels: the hashes are then the same on every x86-64 machine with AVX2. On a
machine without that level the scenario tests are skipped, saying why.

A change that is meant to change behaviour re-records them, in the same commit, with::

    AGENTMARKET_RECORD_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py -q
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from agentmarket.output import run_scenario
from agentmarket.scenarios import bundled_scenarios, load_scenario

GOLDEN_FILE = Path(__file__).with_name("golden_hashes.json")
RECORD = os.environ.get("AGENTMARKET_RECORD_GOLDEN") == "1"
SEEDS = (0, 1)
MONTHS = 24
DEVELOPER_AGENTS = 2_000
PINNED_SIMD = "X86_V3"
"""numpy's SIMD level the tables are made at (AVX2 and FMA): each level above it is switched off."""
OPENBLAS_CORE = "Haswell"
"""OpenBLAS's kernels the tables are made with (its AVX2 ones)."""


def pinned_environment() -> dict[str, str] | None:
    """This environment with numpy held to :data:`PINNED_SIMD` and OpenBLAS to its Haswell kernels; None if out of reach."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    if not __cpu_features__.get(PINNED_SIMD) or PINNED_SIMD not in __cpu_dispatch__:
        return None
    above = __cpu_dispatch__[__cpu_dispatch__.index(PINNED_SIMD) + 1 :]
    return {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(above), "OPENBLAS_CORETYPE": OPENBLAS_CORE}


def pinned_scenario_hashes(name: str) -> dict[str, dict[str, object]]:
    """:func:`scenario_hashes` of one scenario, made in a child interpreter held to the pinned level."""
    env = pinned_environment()
    if env is None:
        pytest.skip(f"numpy cannot run at {PINNED_SIMD} (AVX2) here: the golden hashes were taken at that level")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *filter(None, [env.get("PYTHONPATH")])])
    code = "import json, sys, test_golden; print(json.dumps(test_golden.scenario_hashes(sys.argv[1])))"
    done = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def table_hash(table: pd.DataFrame) -> str:
    """SHA-256 of a tidy table's rows, sorted, with values as their exact float64 bytes."""
    rows = sorted(
        (
            pd.Timestamp(date).strftime("%Y-%m-%d"),
            str(entity),
            str(metric),
            struct.pack("<d", float(value)),
        )
        for date, entity, metric, value in table[["date", "entity", "metric", "value"]].itertuples(index=False)
    )
    digest = hashlib.sha256()
    for date, entity, metric, value in rows:
        digest.update(f"{date}\x1f{entity}\x1f{metric}\x1f".encode())
        digest.update(value)
        digest.update(b"\x1e")
    return digest.hexdigest()


def scenario_hashes(name: str) -> dict[str, dict[str, object]]:
    """The scenario's table hash and row count at each seed."""
    params = load_scenario(name, {"simulation.months": MONTHS, "simulation.developer_agents": DEVELOPER_AGENTS})
    out = {}
    for seed in SEEDS:
        _, table = run_scenario(params, seed=seed)
        out[str(seed)] = {"rows": len(table), "sha256": table_hash(table)}
    return out


def record(name: str, hashes: dict[str, dict[str, object]]) -> None:
    """Write one scenario's hashes into the golden file (safe when test workers write at once)."""
    GOLDEN_FILE.touch()
    with GOLDEN_FILE.open("r+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        text = fh.read()
        stored = json.loads(text) if text.strip() else {}
        stored[name] = hashes
        stored = {k: stored[k] for k in sorted(stored) if k in bundled_scenarios()}
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(stored, indent=2, sort_keys=True) + "\n")


def stored_hashes() -> dict[str, dict[str, dict[str, object]]]:
    """The golden file's contents."""
    return json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))


def test_table_hash_sees_the_last_bit_of_a_value():
    table = pd.DataFrame(
        {
            "date": [pd.Timestamp("2023-01-01")] * 2,
            "entity": ["market", "lab_a"],
            "metric": ["x", "y"],
            "value": [0.1, 2.0],
        }
    )
    nudged = table.copy()
    nudged.loc[0, "value"] = math.nextafter(0.1, 1.0)
    assert nudged.loc[0, "value"] != table.loc[0, "value"]
    assert table_hash(table) == table_hash(table.iloc[::-1])
    assert table_hash(table) != table_hash(nudged)


@pytest.mark.skipif(RECORD, reason="recording the hashes")
def test_every_bundled_scenario_has_hashes():
    assert sorted(stored_hashes()) == sorted(bundled_scenarios())


@pytest.mark.parametrize("name", sorted(bundled_scenarios()))
def test_scenario_tables_match_their_hashes(name):
    hashes = pinned_scenario_hashes(name)
    if RECORD:
        record(name, hashes)
        return
    assert name in stored_hashes(), f"no hashes for {name!r}; record them (see this file's docstring)"
    assert hashes == stored_hashes()[name], (
        f"scenario {name!r}: the tidy table changed; if the change is meant, re-record (see this file's docstring)"
    )
