"""Smoke test of the benchmark harness: one tiny size, every figure present, finite and positive."""

from __future__ import annotations

import json
import math

from agentmarket.bench import KEYS
from agentmarket.cli import main


def test_bench_prints_every_figure_as_its_last_json_line(capsys):
    assert main(["bench", "--sizes", "1500", "--months", "2"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["months"] == 2
    figures = summary["sizes"]["1500"]
    assert set(KEYS) <= set(figures)
    for key in KEYS:
        assert math.isfinite(figures[key]) and figures[key] > 0, key


def test_bench_rejects_a_bad_size_list(capsys):
    assert main(["bench", "--sizes", "ten"]) == 2
    assert "--sizes" in capsys.readouterr().err
