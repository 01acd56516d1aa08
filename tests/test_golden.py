"""Every bundled scenario's tidy table, held as hashes, so a change meant to change no behaviour can prove it.

Each scenario runs at two seeds for 24 months with 2,000 developer agents; the hash covers every row
of the tidy table (date, entity and metric as text, the value's exact float64 bytes), sorted. The
hashes live in ``tests/golden_hashes.json``.

numpy and OpenBLAS pick their vector routines by the processor, and some differ in the last bit
from one level to the next. So the tables are made in a child interpreter held to one level,
numpy's AVX2 routines and OpenBLAS's Haswell kernels (:mod:`pinned`): the hashes are then the
same on every x86-64 machine with AVX2. On a machine without that level the scenario tests are
skipped, saying why.

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
from pathlib import Path

import pandas as pd
import pytest
from pinned import run_pinned

from agentmarket.output import run_scenario
from agentmarket.scenarios import bundled_scenarios, load_scenario

GOLDEN_FILE = Path(__file__).with_name("golden_hashes.json")
RECORD = os.environ.get("AGENTMARKET_RECORD_GOLDEN") == "1"
SEEDS = (0, 1)
MONTHS = 24
DEVELOPER_AGENTS = 2_000


def pinned_scenario_hashes(name: str) -> dict[str, dict[str, object]]:
    """:func:`scenario_hashes` of one scenario, made in a child interpreter held to the pinned level."""
    code = "import json, sys, test_golden; print(json.dumps(test_golden.scenario_hashes(sys.argv[1])))"
    return run_pinned(code, name, why="the golden hashes were taken at that level")


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
